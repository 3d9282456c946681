// RELIABILITY MEM-1, prefill part: a prefill under RLIMIT_AS set below what a piece needs
// fails with "out of memory (needed ~X MiB ...)", the process survives, the state is what
// it was before the call, and the same session then reads on and matches a session that
// never ran out. Runs in a forked child (the limit must not reach the test runner). Under
// ASan RLIMIT_AS cannot be used (it reserves terabytes of address space): skipped there.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "../asan_build.h"
#include "lectern/engine.h"
#include "random_model.h"

namespace lectern {
namespace {

constexpr bool kAsan = lectern::testing::kAsanBuild;

long long vmSizeBytes() {
    std::ifstream in("/proc/self/status");
    std::string key;
    while (in >> key) {
        if (key == "VmSize:") {
            long long kb = 0;
            in >> kb;
            return kb * 1024;
        }
        in.ignore(1 << 16, '\n');
    }
    return -1;
}

double maxAbsDiff(const DocumentState& a, const DocumentState& b) {
    double worst = 0.0;
    for (size_t l = 0; l < a.layers().size(); ++l) {
        const std::vector<float>& x = a.layers()[l].ssm;
        const std::vector<float>& y = b.layers()[l].ssm;
        if (x.size() != y.size()) return INFINITY;
        for (size_t i = 0; i < x.size(); ++i) {
            const double d = std::fabs(double(x[i]) - double(y[i]));
            if (!(d <= worst)) worst = std::isnan(d) ? INFINITY : d;
        }
    }
    return worst;
}

// The child's checks; returns the exit code (0: all held), explaining failures on stderr.
int childRun(const std::string& dir) {
    auto model = Model::load(dir);
    if (!model) {
        std::fprintf(stderr, "load: %s\n", model.error().c_str());
        return 10;
    }
    std::mt19937 rng(5);
    std::vector<int32_t> head(32), big(8192);
    for (int32_t& t : head) t = int32_t(rng() % 256);
    for (int32_t& t : big) t = int32_t(rng() % 256);
    const std::span<const int32_t> all(head), first = all.first(16), rest = all.subspan(16);

    Session reference = model->newSession();  // never limited
    if (!reference.prefill(first) || !reference.prefill(rest)) return 11;
    Session s = model->newSession();  // warms threads, BLAS buffers and this scratch
    if (!s.prefill(first)) return 12;

    const long long vm = vmSizeBytes();
    const long long limit = vm + (16LL << 20);  // a piece of 2,048 tokens needs ~130 MiB
    const rlimit rl{rlim_t(limit), rlim_t(limit)};
    if (vm < 0 || setrlimit(RLIMIT_AS, &rl) != 0) return 13;

    Status oom = s.prefill(big);
    if (oom) {
        std::fprintf(stderr, "the 8,192-token prefill succeeded under the limit\n");
        return 14;
    }
    std::fprintf(stderr, "message: %s\n", oom.message().c_str());
    if (oom.message().find("out of memory (needed ~") == std::string::npos) return 15;
    if (s.position() != 16) {
        std::fprintf(stderr, "position %lld after the failure\n", (long long)s.position());
        return 16;
    }
    if (!s.prefill(rest)) return 17;  // fits the scratch the session already has
    const double diff = maxAbsDiff(s.state(), reference.state());
    std::fprintf(stderr, "state vs never limited: max abs diff %g\n", diff);
    return diff <= 1e-5 ? 0 : 18;
}

TEST(PrefillOutOfMemory, FailsCleanlyAndTheStateReadsOn) {
    if (kAsan) GTEST_SKIP() << "RLIMIT_AS cannot be used under AddressSanitizer";
    const std::string dir = test::makeTempDir("lectern-oom");
    test::RandomModelSpec spec;
    spec.dModel = 1024;
    spec.nLayer = 1;
    spec.dState = 64;
    spec.headdim = 64;
    spec.chunk = 64;
    ASSERT_TRUE(test::writeRandomModel(dir, spec, 3));
    std::fflush(nullptr);
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) _exit(childRun(dir));
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    std::filesystem::remove_all(dir);
    ASSERT_TRUE(WIFEXITED(status)) << "the child died of signal " << WTERMSIG(status);
    EXPECT_EQ(WEXITSTATUS(status), 0) << "see the child's stderr above";
}

}  // namespace
}  // namespace lectern
