// Search latency benchmark (not a test: prints numbers, asserts none). Opens an existing
// store read-only and times Store::search in-process, so process start (tens of ms for
// lectern-cli's shared libraries) is not counted. scripts/bench_ingest.sh runs it.
// Usage: bench_search STORE_DIR COLLECTION [--rounds N] [--limit N] [QUERY...]
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "store.h"

using namespace lectern;

namespace {

const char* const kDefaultQueries[] = {"timeout",   "mutex",   "memory barrier", "spinlock",
                                       "interrupt", "license", "printf",         "error handling",
                                       "allocate",  "socket",  "deadlock",       "page fault",
                                       "scheduler", "buffer",  "overflow",       "checksum"};

// CPU time of this thread: on a shared, loaded machine wall time mostly measures the queue
// for a core.
double threadCpuMs() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return double(ts.tv_sec) * 1e3 + double(ts.tv_nsec) / 1e6;
}

double percentile(std::vector<double> v, double p) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[std::min(v.size() - 1, size_t(p * double(v.size())))];
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr,
                     "usage: bench_search STORE_DIR COLLECTION [--rounds N] [--limit N] "
                     "[QUERY...]\n");
        return 2;
    }
    int rounds = 3;
    int limit = 10;
    std::vector<std::string> queries;
    for (int i = 3; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--rounds" && i + 1 < argc) {
            rounds = std::atoi(argv[++i]);
        } else if (arg == "--limit" && i + 1 < argc) {
            limit = std::atoi(argv[++i]);
        } else {
            queries.push_back(arg);
        }
    }
    if (queries.empty()) queries.assign(std::begin(kDefaultQueries), std::end(kDefaultQueries));

    Expected<std::unique_ptr<store::Store>> store = store::Store::open(argv[1], {false, nullptr});
    if (!store) {
        std::fprintf(stderr, "error: %s\n", store.error().c_str());
        return 1;
    }
    std::vector<double> all, allCpu;
    for (const std::string& query : queries) {
        std::vector<double> times, cpu;
        size_t hits = 0;
        for (int r = 0; r < rounds; ++r) {
            store::SearchRequest request;
            request.collection = argv[2];
            request.query = query;
            request.limit = limit;
            const auto start = std::chrono::steady_clock::now();
            const double cpuStart = threadCpuMs();
            Expected<std::vector<store::SearchHit>> result = (*store)->search(request);
            const std::chrono::duration<double, std::milli> took =
                std::chrono::steady_clock::now() - start;
            if (!result) {
                std::fprintf(stderr, "error: %s: %s\n", query.c_str(), result.error().c_str());
                return 1;
            }
            hits = result->size();
            times.push_back(took.count());
            cpu.push_back(threadCpuMs() - cpuStart);
        }
        all.insert(all.end(), times.begin(), times.end());
        allCpu.insert(allCpu.end(), cpu.begin(), cpu.end());
        std::printf("%-16s %2zu hits  median %8.2f ms (cpu %8.2f)  max %8.2f ms\n", query.c_str(),
                    hits, percentile(times, 0.5), percentile(cpu, 0.5), percentile(times, 1.0));
    }
    std::printf(
        "== search in-process: %zu runs of %zu queries: median %.2f ms, p90 %.2f ms, "
        "max %.2f ms\n",
        all.size(), queries.size(), percentile(all, 0.5), percentile(all, 0.9),
        percentile(all, 1.0));
    std::printf("== search cpu time: median %.2f ms, p90 %.2f ms, max %.2f ms\n",
                percentile(allCpu, 0.5), percentile(allCpu, 0.9), percentile(allCpu, 1.0));
    return 0;
}
