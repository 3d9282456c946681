// PrefillService: one worker thread that gets each source's state from the cache in turn.
#include "prefill_service.h"

#include <chrono>
#include <new>

namespace lectern::services {

PrefillService::~PrefillService() {
    cancel();
    if (worker_.joinable()) worker_.join();
}

Status PrefillService::start(std::vector<StateKey> keys,
                             std::function<void(const PrefillProgress&)> progress,
                             std::function<void(const PrefillReport&)> finished) {
    if (running_.load()) return Status::error("a prefill is already running");
    if (worker_.joinable()) worker_.join();
    cancel_.store(false);
    running_.store(true);
    report_ = PrefillReport{};
    worker_ = std::thread([this, keys = std::move(keys), progress = std::move(progress),
                           finished = std::move(finished)] {
        const auto t0 = std::chrono::steady_clock::now();
        PrefillReport report;
        for (size_t i = 0; i < keys.size(); ++i) {
            StateRequest request;
            request.key = keys[i];
            request.cancel = &cancel_;
            if (progress) {
                request.progress = [&, i](int64_t done, int64_t total) {
                    progress(PrefillProgress{keys[i], i, keys.size(), done, total});
                };
            }
            Expected<StateResult> r = Status::error("not read");
            try {
                r = cache_->get(request);
            } catch (const std::bad_alloc&) {  // e.g. a document's text larger than memory
                r = Status::error(keys[i].describe() + ": out of memory while reading it");
            }
            if (!r) {
                if (cancel_.load()) {
                    report.cancelled = true;
                    break;
                }
                if (report.status) report.status = r.status();
                report.failures.push_back(r.error());
                continue;
            }
            ++report.finished;
            report.tokens += r->prefilled;
            report.from.push_back(r->from);
        }
        report.seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        report_ = report;
        if (finished) finished(report);
        running_.store(false);
    });
    return Status::ok();
}

void PrefillService::cancel() {
    cancel_.store(true);
}

PrefillReport PrefillService::wait() {
    if (worker_.joinable()) worker_.join();
    return report_;
}

}  // namespace lectern::services
