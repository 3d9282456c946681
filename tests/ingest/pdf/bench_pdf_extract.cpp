// Benchmark driver for scripts/bench_pdf.sh (not a test; it asserts nothing): extracts the
// given PDFs `--repeat` times with `--workers` threads sharing one PDF extractor (so one worker
// process per thread) and prints pages, wall seconds, pages/s and CPU seconds (this process and
// its workers, warm-up on the smallest file included) on one line.
//   bench_pdf_extract --workers 2 --repeat 5 a.pdf b.pdf
#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "ingest/extractors/pdf_poppler.h"

// User plus system time of this process or of its reaped children (the workers).
static double cpuSeconds(int who) {
    rusage u{};
    getrusage(who, &u);
    return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

int main(int argc, char** argv) {
    using namespace lectern::ingest;
    int workers = 1, repeat = 1;
    std::vector<std::string> files;
    for (int i = 1; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--workers") && i + 1 < argc) {
            workers = std::max(1, std::atoi(argv[++i]));
        } else if (!std::strcmp(argv[i], "--repeat") && i + 1 < argc) {
            repeat = std::max(1, std::atoi(argv[++i]));
        } else {
            files.emplace_back(argv[i]);
        }
    }
    if (files.empty()) {
        std::fprintf(stderr, "usage: bench_pdf_extract [--workers N] [--repeat R] file.pdf...\n");
        return 2;
    }
    auto extractor = makePdfExtractor();
    // Warm-up: starts the workers on the smallest file, outside the timing.
    std::string smallest = files[0];
    for (const auto& f : files) {
        if (std::filesystem::file_size(f) < std::filesystem::file_size(smallest)) smallest = f;
    }
    {
        std::vector<std::thread> warm;
        for (int w = 0; w < workers; ++w) {
            warm.emplace_back([&] {
                ExtractRequest r;
                r.path = smallest;
                extractor->extract(r, [](Segment&&) { return true; });
            });
        }
        for (auto& t : warm) t.join();
    }
    std::atomic<size_t> next{0};
    std::atomic<int64_t> pages{0}, chars{0}, failures{0};
    const size_t jobs = files.size() * size_t(repeat);
    const auto start = std::chrono::steady_clock::now();
    std::vector<std::thread> threads;
    for (int w = 0; w < workers; ++w) {
        threads.emplace_back([&] {
            for (size_t j; (j = next++) < jobs;) {
                ExtractRequest r;
                r.path = files[j % files.size()];
                int64_t n = 0;
                const auto result = extractor->extract(r, [&](Segment&& s) {
                    n += int64_t(s.text.size());
                    return true;
                });
                if (result.status != ExtractStatus::Ok) {
                    ++failures;
                    std::fprintf(stderr, "%s: %s\n", r.path.c_str(), result.message.c_str());
                }
                pages += result.meta.pageCount;
                chars += n;
            }
        });
    }
    for (auto& t : threads) t.join();
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    extractor.reset();  // reaps the workers, so their CPU time is counted below
    std::printf(
        "workers=%d documents=%zu pages=%lld text_bytes=%lld seconds=%.3f pages_per_s=%.1f "
        "cpu_s=%.3f\n",
        workers, jobs, (long long)pages.load(), (long long)chars.load(), seconds,
        double(pages.load()) / seconds, cpuSeconds(RUSAGE_SELF) + cpuSeconds(RUSAGE_CHILDREN));
    return failures.load() == 0 ? 0 : 1;
}
