// main() of every CUDA test: exits 77 (CTest: skipped) with "SKIPPED: no CUDA device" when
// no driver or GPU is present, which is what CI sees; otherwise runs the GoogleTest cases.
#include <gtest/gtest.h>

#include <cstdio>

#include "cuda/cuda_context.h"

int main(int argc, char** argv) {
    auto dev = lectern::cuda::probeDevice(0);
    if (!dev) {
        std::printf("SKIPPED: no CUDA device (%s)\n", dev.error().c_str());
        return 77;
    }
    std::printf("CUDA device 0: %s, sm_%d%d, %d SMs, %zu MiB\n", dev->name.c_str(), dev->smMajor,
                dev->smMinor, dev->multiprocessors, dev->totalBytes >> 20);
    ::testing::InitGoogleTest(&argc, argv);
    return RUN_ALL_TESTS();
}
