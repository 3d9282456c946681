// CUDA twin of engine/cpu/lm_head.cpp: the same GEMM as linear; its own op so that the
// caller can ask for the last row of each document only (ldNormed = T·D, rows = batch).
#include "cuda/cuda_ops.h"

namespace lectern::cuda {

int lm_head_forward(GemmContext& g, float* logits, const float* normed, int64_t ldNormed,
                    const DeviceMatrix& W, int64_t rows, cudaStream_t s) {
    return linear_forward(g, logits, normed, ldNormed, W, rows, s);
}

}  // namespace lectern::cuda
