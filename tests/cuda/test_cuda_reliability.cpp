// The CUDA backend under the failures of RELIABILITY 9.5, through the engine's own calls on
// random models. GPU-1: a device allocation of 1.5× the free memory is a clean "CUDA out of
// memory: need X MiB, free Y MiB", not sticky (a fitting request then succeeds) and free
// memory returns to its baseline. GPU-2: with most of the memory held by a ballast, every
// call succeeds or reports out of memory, never anything else and never an abort; the
// model works again once the ballast is gone. GPU-3: a kernel fault (a test kernel writing
// out of bounds, in a child process so this one keeps its GPU) disables the backend with
// "GPU device error (illegal address); CUDA backend disabled, restart required", and the
// CPU answers the next calls in the same process.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "cuda/cuda_model.h"
#include "cuda_test_util.h"
#include "fault_kernel.h"
#include "lectern/engine.h"
#include "random_model.h"
#include "tensor_check.h"

namespace lectern {
namespace {

constexpr const char* kFault =
    "GPU device error (illegal address); CUDA backend disabled, restart required";
constexpr double kTol = 1e-4;  // fp32 GPU against the CPU, as the session tests

size_t freeDeviceBytes() {
    size_t freeB = 0, totalB = 0;
    cudaMemGetInfo(&freeB, &totalB);
    return freeB;
}

bool mentions(const std::string& text, const char* what) {
    return text.find(what) != std::string::npos;
}

bool sameBits(std::span<const float> a, std::span<const float> b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * 4) == 0;
}

// A random model in a temp folder, removed with the object.
struct ModelDir {
    explicit ModelDir(uint64_t seed)
        : spec(test::randomSpec(seed)), dir(test::makeTempDir("lectern-cuda-reliability")) {
        std::printf("seed %llu: %s\n", (unsigned long long)seed, spec.describe().c_str());
        written = bool(test::writeRandomModel(dir, spec, seed));
    }
    ~ModelDir() { std::filesystem::remove_all(dir); }
    ModelDir(const ModelDir&) = delete;
    ModelDir& operator=(const ModelDir&) = delete;

    std::vector<int32_t> ids(uint64_t seed, size_t n) const {
        std::mt19937_64 rng(seed);
        std::vector<int32_t> v(n);
        for (auto& t : v) t = int32_t(rng() % uint64_t(spec.vocab));
        return v;
    }

    test::RandomModelSpec spec;
    std::string dir;
    bool written = false;
};

TEST(CudaReliability, DeviceOomIsCleanAndNotSticky) {
    const uint64_t seed = test::freshSeed();
    ModelDir m(seed);
    ASSERT_TRUE(m.written);
    auto cpu = Model::load(m.dir);
    auto host = test::loadHostModel(m.dir);
    ASSERT_TRUE(cpu && host);
    auto g = cuda::CudaModel::create(host->cfg, host->w, {});  // fp32
    ASSERT_TRUE(g) << g.error();
    const std::vector<int32_t> ids = m.ids(seed, 40);
    const int64_t T = int64_t(ids.size());
    std::vector<float> last(size_t(host->cfg.vocabPadded()));
    size_t perDocument = 0;
    {  // one piece first, so that the model's scratch is part of the baseline
        auto st = (*g)->newStates(1);
        ASSERT_TRUE(st) << st.error();
        perDocument = st->buf.bytes();
        ASSERT_TRUE((*g)->forward(*st, ids.data(), T, ScanForm::Chunked, last.data(), nullptr));
    }
    const size_t baseline = freeDeviceBytes();
    const double want = 1.5 * double(baseline) / double(perDocument) + 1;
    ASSERT_LT(want, 2e9) << "a document's state is too small to ask for 1.5x of the memory";
    auto huge = (*g)->newStates(int(want));
    ASSERT_FALSE(huge) << "1.5x the free memory was granted";
    const std::string& e = huge.error();
    std::printf("  %d states (%.0f MiB) with %zu MiB free: %s\n", int(want),
                want * double(perDocument) / 1048576.0, baseline >> 20, e.c_str());
    EXPECT_TRUE(mentions(e, "CUDA out of memory: need ") && mentions(e, " MiB, free ")) << e;
    const long long needMiB = std::atoll(e.c_str() + e.find("need ") + 5);
    EXPECT_GE(double(needMiB), 1.4 * double(baseline >> 20)) << e;

    {  // Not sticky: a fitting request and a piece through it, equal to the CPU's.
        auto st = (*g)->newStates(1);
        ASSERT_TRUE(st) << st.error();
        ASSERT_TRUE((*g)->forward(*st, ids.data(), T, ScanForm::Chunked, last.data(), nullptr));
        Session ref = cpu->newSession();
        ASSERT_TRUE(ref.prefill(ids));
        const auto d = test::compareRel(last.data(), ref.lastLogits().data(), last.size());
        EXPECT_TRUE(d.within(kTol)) << d.describe();
    }
    const size_t after = freeDeviceBytes();
    std::printf("  free: %zu MiB before, %zu MiB after\n", baseline >> 20, after >> 20);
    EXPECT_LE(std::max(after, baseline) - std::min(after, baseline), size_t(64) << 20);
}

// Holds device memory in blocks until destroyed.
class Ballast {
public:
    explicit Ballast(size_t bytes) {
        for (size_t block = size_t(1) << 30; block >= (size_t(1) << 20) && held_ < bytes;) {
            void* p = nullptr;
            const size_t take = std::min(block, bytes - held_);
            if (cudaMalloc(&p, take) == cudaSuccess) {
                blocks_.push_back(p);
                held_ += take;
            } else {
                cudaGetLastError();  // out of memory is not sticky
                block /= 2;
            }
        }
    }
    ~Ballast() {
        for (void* p : blocks_) cudaFree(p);
    }
    Ballast(const Ballast&) = delete;
    Ballast& operator=(const Ballast&) = delete;
    size_t held() const { return held_; }

private:
    std::vector<void*> blocks_;
    size_t held_ = 0;
};

struct Outcomes {
    int ok = 0, oom = 0;
    std::vector<std::string> other;  // anything but success or out of memory
    void add(const Status& s, const char* what) {
        if (s)
            ++ok;
        else if (mentions(s.message(), "out of memory"))
            ++oom;
        else
            other.push_back(std::string(what) + ": " + s.message());
    }
};

// The engine's calls a question makes: load onto the GPU, read, decode, fork, read back.
Outcomes engineCalls(const ModelDir& m, const std::vector<int32_t>& ids) {
    Outcomes o;
    for (GpuPrecision p : {GpuPrecision::Fp32, GpuPrecision::Bf16}) {
        auto gm = Model::load(m.dir, LoadOptions{DeviceKind::Cuda, p});
        o.add(gm ? Status::ok() : gm.status(), "load");
        if (!gm) continue;
        Session a = gm->newSession();
        o.add(a.prefill(ids), "prefill");
        for (size_t i = 0; i < 3; ++i) o.add(a.step(ids[i]), "step");
        Session b = a.fork();
        o.add(b.step(ids[3]), "step after a fork");
        (void)b.argmaxLogits(m.spec.vocab);
        (void)std::as_const(b).state();
    }
    auto autoModel = Model::load(m.dir, DeviceKind::Auto);
    o.add(autoModel ? Status::ok() : autoModel.status(), "load with auto");
    if (autoModel) {
        Session s = autoModel->newSession();
        o.add(s.prefill(ids), "prefill with auto");
    }
    return o;
}

TEST(CudaReliability, BallastLeavesEveryCallCleanOrOutOfMemory) {
    const uint64_t seed = test::freshSeed();
    ModelDir m(seed);
    ASSERT_TRUE(m.written);
    const std::vector<int32_t> ids = m.ids(seed, 300);
    const size_t free0 = freeDeviceBytes();
    // The check's ballast (90% of the memory), then tighter ones where calls start to fail.
    for (size_t leave : {free0 / 10, size_t(256) << 20, size_t(24) << 20, size_t(4) << 20}) {
        Outcomes o;
        {
            Ballast b(freeDeviceBytes() > leave ? freeDeviceBytes() - leave : 0);
            o = engineCalls(m, ids);
            std::printf("  ballast %zu MiB, %zu MiB left: %d calls ok, %d out of memory\n",
                        b.held() >> 20, freeDeviceBytes() >> 20, o.ok, o.oom);
        }
        for (const std::string& s : o.other) ADD_FAILURE() << "not ok nor out of memory: " << s;
    }
    // The ballast gone, the same process reads the document as the CPU does.
    auto cpu = Model::load(m.dir);
    auto gpu = Model::load(m.dir, LoadOptions{DeviceKind::Cuda, GpuPrecision::Fp32});
    ASSERT_TRUE(cpu && gpu);
    Session c = cpu->newSession(), g = gpu->newSession();
    ASSERT_TRUE(c.prefill(ids));
    ASSERT_TRUE(g.prefill(ids));
    const auto d =
        test::compareRel(g.lastLogits().data(), c.lastLogits().data(), c.lastLogits().size());
    EXPECT_TRUE(d.within(kTol)) << d.describe();
}

// GPU-3, the parent: runs CudaFaultChild in a child process of this binary.
TEST(CudaReliability, KernelFaultDisablesTheGpuAndTheCpuAnswers) {
    if (std::getenv("LECTERN_FAULT_CHILD")) GTEST_SKIP() << "in the child";
    // The binary's own path: /proc/self/exe inside popen's shell would be the shell.
    const std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
    const std::string cmd =
        "LECTERN_FAULT_CHILD=1 '" + self + "' --gtest_filter='CudaFaultChild.*' 2>&1";
    FILE* f = popen(cmd.c_str(), "r");
    ASSERT_NE(f, nullptr);
    std::string out;
    char buf[4096];
    for (size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) out.append(buf, n);
    const int status = pclose(f);
    std::printf("---- child ----\n%s---- end of child ----\n", out.c_str());
    ASSERT_TRUE(WIFEXITED(status)) << "the child died of a signal";
    EXPECT_EQ(WEXITSTATUS(status), 0);
    EXPECT_TRUE(mentions(out, "[  PASSED  ] 1 test")) << "the child's test did not pass";
    EXPECT_TRUE(mentions(out, kFault));
}

TEST(CudaFaultChild, FaultThenTheCpuAnswers) {
    if (!std::getenv("LECTERN_FAULT_CHILD"))
        GTEST_SKIP() << "runs as the child of CudaReliability.KernelFault...";
    const uint64_t seed = test::freshSeed();
    ModelDir m(seed);
    ASSERT_TRUE(m.written);
    auto cpu = Model::load(m.dir);
    auto gpu = Model::load(m.dir, LoadOptions{DeviceKind::Cuda, GpuPrecision::Fp32});
    ASSERT_TRUE(cpu && gpu);
    const std::vector<int32_t> ids = m.ids(seed, 50);
    Session lost = gpu->newSession(), kept = gpu->newSession(), ref = cpu->newSession();
    ASSERT_TRUE(ref.prefill(ids));
    const std::vector<float> refLogits(ref.lastLogits().begin(), ref.lastLogits().end());
    ASSERT_TRUE(lost.prefill(ids));
    ASSERT_TRUE(lost.step(ids[0]));  // its newest state is on the GPU only
    ASSERT_TRUE(kept.prefill(ids));
    (void)std::as_const(kept).state();  // its host copies are current
    (void)kept.lastLogits();

    ASSERT_EQ(test::faultTheDevice(), cudaErrorIllegalAddress);

    // The next GPU call reports the fault; the session that lived on the GPU is reset.
    const Status s = lost.step(ids[1]);
    ASSERT_FALSE(s);
    std::printf("  after the fault: %s\n", s.message().c_str());
    EXPECT_TRUE(mentions(s.message(), kFault)) << s.message();
    EXPECT_EQ(lost.position(), 0);
    // From then on the CPU answers: a new session equals the CPU model's bit for bit ...
    Session fresh = gpu->newSession();
    ASSERT_TRUE(fresh.prefill(ids));
    EXPECT_TRUE(sameBits(fresh.lastLogits(), refLogits));
    // ... the reset one reads the document again ...
    ASSERT_TRUE(lost.prefill(ids));
    EXPECT_TRUE(sameBits(lost.lastLogits(), refLogits));
    // ... and one whose host copy was current carries on from it.
    ASSERT_TRUE(kept.step(ids[1]));
    ASSERT_TRUE(ref.step(ids[1]));
    const auto d = test::compareRel(kept.lastLogits().data(), ref.lastLogits().data(),
                                    ref.lastLogits().size());
    EXPECT_TRUE(d.within(kTol)) << d.describe();
    // The GPU stays refused, with the same message; auto falls back to the CPU.
    auto again = Model::load(m.dir, DeviceKind::Cuda);
    ASSERT_FALSE(again);
    EXPECT_TRUE(mentions(again.error(), kFault)) << again.error();
    auto viaAuto = Model::load(m.dir, DeviceKind::Auto);
    ASSERT_TRUE(viaAuto) << viaAuto.error();
    Session a = viaAuto->newSession();
    ASSERT_TRUE(a.prefill(ids));
    EXPECT_TRUE(sameBits(a.lastLogits(), refLogits));
}

}  // namespace
}  // namespace lectern
