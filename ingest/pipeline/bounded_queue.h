// A blocking multi-producer queue bounded by a cost (bytes of segment text, or a count),
// so a fast extractor waits for the writer instead of filling memory. One item larger
// than the whole budget is still accepted when the queue is empty, so nothing deadlocks.
#pragma once

#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>

namespace lectern::ingest {

template <typename T>
class BoundedQueue {
public:
    explicit BoundedQueue(size_t capacity) : capacity_(capacity) {}

    void push(T item, size_t cost) {
        std::unique_lock lock(mutex_);
        notFull_.wait(lock, [&] { return closed_ || used_ == 0 || used_ + cost <= capacity_; });
        if (closed_) return;
        used_ += cost;
        items_.push_back({std::move(item), cost});
        notEmpty_.notify_one();
    }

    // Blocks until an item arrives or the queue is closed and drained (then nullopt).
    std::optional<T> pop() {
        std::unique_lock lock(mutex_);
        notEmpty_.wait(lock, [&] { return closed_ || !items_.empty(); });
        return takeLocked();
    }

    // Waits at most `timeout` for an item; nullopt when none came (or closed and drained).
    template <typename Duration>
    std::optional<T> popFor(Duration timeout) {
        std::unique_lock lock(mutex_);
        notEmpty_.wait_for(lock, timeout, [&] { return closed_ || !items_.empty(); });
        return takeLocked();
    }

    bool closedAndEmpty() {
        std::lock_guard lock(mutex_);
        return closed_ && items_.empty();
    }

    // Does not block: nullopt when empty.
    std::optional<T> tryPop() {
        std::lock_guard lock(mutex_);
        return takeLocked();
    }

    // Producers are done: pop() drains what is left, then returns nullopt.
    void close() {
        std::lock_guard lock(mutex_);
        closed_ = true;
        notEmpty_.notify_all();
        notFull_.notify_all();
    }

    // Drops queued items and wakes everyone (cancel or fatal error).
    void abandon() {
        std::lock_guard lock(mutex_);
        closed_ = true;
        items_.clear();
        used_ = 0;
        notEmpty_.notify_all();
        notFull_.notify_all();
    }

private:
    struct Entry {
        T item;
        size_t cost;
    };

    std::optional<T> takeLocked() {
        if (items_.empty()) return std::nullopt;
        Entry entry = std::move(items_.front());
        items_.pop_front();
        used_ -= entry.cost;
        notFull_.notify_all();
        return std::move(entry.item);
    }

    std::mutex mutex_;
    std::condition_variable notEmpty_, notFull_;
    std::deque<Entry> items_;
    size_t capacity_;
    size_t used_ = 0;
    bool closed_ = false;
};

}  // namespace lectern::ingest
