// Errors as values: Status carries a message a user can act on (which file, which
// tensor or byte offset, what was expected); Expected<T> is a value or such a Status.
// Nothing reachable from outside data aborts: fallible calls return one of these.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace lectern {

class Status {
public:
    Status() = default;  // ok
    static Status ok() { return {}; }
    static Status error(std::string message) {
        Status s;
        s.ok_ = false;
        s.message_ = std::move(message);
        return s;
    }

    bool isOk() const { return ok_; }
    explicit operator bool() const { return ok_; }
    const std::string& message() const { return message_; }

    // Prefixes context, e.g. the file name, to an error; leaves ok untouched.
    Status withContext(const std::string& context) const {
        return ok_ ? *this : error(context + ": " + message_);
    }

private:
    bool ok_ = true;
    std::string message_;
};

template <typename T>
class Expected {
public:
    Expected(T value) : v_(std::move(value)) {}
    Expected(Status error) : v_(std::move(error)) { assert(!std::get<Status>(v_).isOk()); }

    bool hasValue() const { return v_.index() == 0; }
    explicit operator bool() const { return hasValue(); }

    T& value() & { return std::get<T>(v_); }
    const T& value() const& { return std::get<T>(v_); }
    T&& value() && { return std::get<T>(std::move(v_)); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }

    const Status& status() const {
        static const Status okStatus;
        return hasValue() ? okStatus : std::get<Status>(v_);
    }
    const std::string& error() const { return status().message(); }

private:
    std::variant<T, Status> v_;
};

}  // namespace lectern
