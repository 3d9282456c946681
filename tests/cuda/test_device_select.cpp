// Run-time device selection through the public API (Model::load with cpu, cuda, auto).
// Runs everywhere (no skip): without a GPU, `cuda` must fail with a clear message and
// `auto` must fall back to the CPU; with one, both must give the CPU engine's results
// (within the golden tolerance 1e-4), through prefill and decode steps.
#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "cuda/cuda_context.h"
#include "lectern/engine.h"
#include "random_model.h"
#include "tensor_check.h"

namespace lectern {
namespace {

TEST(DeviceSelect, CpuCudaAuto) {
    const uint64_t seed = std::random_device{}();
    const test::RandomModelSpec spec = test::randomSpec(seed);
    std::printf("seed %llu: %s\n", (unsigned long long)seed, spec.describe().c_str());
    const std::string dir = test::makeTempDir("lectern-devsel");
    ASSERT_TRUE(test::writeRandomModel(dir, spec, seed));
    auto cpu = Model::load(dir, DeviceKind::Cpu);
    // Fp32 on the GPU: compared with the CPU at 1e-4 below (bf16 is the GPU's default).
    auto cuda = Model::load(dir, LoadOptions{DeviceKind::Cuda, GpuPrecision::Fp32});
    auto autoM = Model::load(dir, LoadOptions{DeviceKind::Auto, GpuPrecision::Fp32});
    std::filesystem::remove_all(dir);
    ASSERT_TRUE(cpu) << cpu.error();
    ASSERT_TRUE(autoM) << "auto must always load: " << autoM.error();
    const bool haveGpu = bool(cuda::probeDevice(0));
    if (!haveGpu) {
        ASSERT_FALSE(cuda);
        std::printf("  --device cuda without a GPU: %s\n", cuda.error().c_str());
        EXPECT_NE(cuda.error().find("CUDA"), std::string::npos) << cuda.error();
    } else {
        ASSERT_TRUE(cuda) << cuda.error();
    }
    std::mt19937_64 rng(seed);
    std::vector<int32_t> ids(1 + rng() % 120);
    for (auto& t : ids) t = int32_t(rng() % spec.vocab);
    Session ref = cpu->newSession();
    ASSERT_TRUE(ref.prefill(ids));
    ASSERT_TRUE(ref.step(3));
    std::vector<const Model*> others = {&*autoM};
    if (cuda) others.push_back(&*cuda);
    for (const Model* m : others) {
        Session s = m->newSession();
        ASSERT_TRUE(s.prefill(ids));
        ASSERT_TRUE(s.step(3));
        const auto e = test::compareRel(s.lastLogits().data(), ref.lastLogits().data(),
                                        ref.lastLogits().size());
        std::printf("  logits vs CPU: %s\n", e.describe().c_str());
        EXPECT_TRUE(e.within(1e-4)) << e.describe();
        EXPECT_EQ(s.position(), ref.position());
        // The state is on the host after every call: a CPU session continues it.
        Session cont = cpu->newSession();
        cont.state() = s.state();
        ASSERT_TRUE(cont.step(5));
        Session ref2 = ref;
        ASSERT_TRUE(ref2.step(5));
        const auto e2 = test::compareRel(cont.lastLogits().data(), ref2.lastLogits().data(),
                                         ref2.lastLogits().size());
        EXPECT_TRUE(e2.within(1e-4)) << e2.describe();
    }
}

}  // namespace
}  // namespace lectern
