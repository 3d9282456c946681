// Benchmark driver for scripts/bench_pdf.sh (not a test; it asserts nothing): extracts the
// given PDFs `--repeat` times with `--workers` threads sharing one PDF extractor (so one worker
// process per thread) and prints pages, seconds and pages/s on one line.
//   bench_pdf_extract --workers 2 --repeat 5 a.pdf b.pdf
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "ingest/extractors/pdf_poppler.h"

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
    // Warm-up: starts the workers and loads the files into the page cache, outside the timing.
    {
        std::vector<std::thread> warm;
        for (int w = 0; w < workers; ++w) {
            warm.emplace_back([&] {
                ExtractRequest r;
                r.path = files[0];
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
    std::printf(
        "workers=%d documents=%zu pages=%lld text_bytes=%lld seconds=%.3f pages_per_s=%.1f\n",
        workers, jobs, (long long)pages.load(), (long long)chars.load(), seconds,
        double(pages.load()) / seconds);
    return failures.load() == 0 ? 0 : 1;
}
