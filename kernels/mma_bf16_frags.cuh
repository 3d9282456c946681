// Register-resident tensor-core products (sm_80+): mma.sync m16n8k16 bf16 with fp32
// accumulators and ldmatrix loads from shared memory, as FlashAttention-2 keeps its tiles.
// Unlike wmma the fragments' element layout is fixed by the PTX ISA, so an accumulator can
// be turned into the next product's A operand (or stored) from registers.
//
// Layouts (lane = 4·g + t, g = lane / 4, t = lane % 4):
//   A 16×16: a0 (row g, cols 2t, 2t+1), a1 (row g+8, same), a2 (row g, cols 2t+8, 2t+9), a3 (row
//            g+8, same);
//   B 16×8:  b0 (rows 2t, 2t+1, col g), b1 (rows 2t+8, 2t+9, col g);
//   C 16×8:  c0, c1 (row g, cols 2t, 2t+1), c2, c3 (row g+8, same).
#pragma once

#include <cuda_bf16.h>

#include <cstdint>

namespace lectern::cuda::mma16 {

// c += a·b for one 16×8 tile.
__device__ __forceinline__ void mma(float (&c)[4], const uint32_t (&a)[4], uint32_t b0,
                                    uint32_t b1) {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
        "{%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// Four 8×8 bf16 matrices; lane l gives the address of row l % 8 of matrix l / 8, as a 32-bit
// shared-memory address (smemAddr): a loop that steps such an address by a byte stride adds
// one integer instead of redoing 64-bit pointer arithmetic and the generic-to-shared
// conversion for each load. ldm4t: the same, each matrix transposed.
__device__ __forceinline__ uint32_t smemAddr(const void* p) {
    return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}
__device__ __forceinline__ void ldm4(uint32_t (&r)[4], uint32_t s) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(s)
                 : "memory");
}
__device__ __forceinline__ void ldm4t(uint32_t (&r)[4], uint32_t s) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(s)
                 : "memory");
}
__device__ __forceinline__ void ldm4(uint32_t (&r)[4], const void* p) {
    ldm4(r, smemAddr(p));
}
__device__ __forceinline__ void ldm4t(uint32_t (&r)[4], const void* p) {
    ldm4t(r, smemAddr(p));
}

// The lane's row and column offsets for ldm4 / ldm4t over a 16×16 block of a row-major
// bf16 matrix. Pattern 1 (row lane % 16, column 8·(lane / 16)): an A operand stored as is
// (ldm4), or two B tiles (columns c, c+8) stored k-major (ldm4t). Pattern 2 (row lane % 8 +
// 8·(lane / 16), column 8·(lane / 8 % 2)): two B tiles stored n-major, i.e. Bᵀ row-major
// (ldm4), or an A operand stored transposed (ldm4t). Either way r[0], r[1] are the first B
// tile's b0, b1 and r[2], r[3] the second's.
__device__ __forceinline__ int rowPat1(int lane) {
    return lane & 15;
}
__device__ __forceinline__ int colPat1(int lane) {
    return (lane >> 4) * 8;
}
__device__ __forceinline__ int rowPat2(int lane) {
    return (lane & 7) + (lane >> 4) * 8;
}
__device__ __forceinline__ int colPat2(int lane) {
    return ((lane >> 3) & 1) * 8;
}

// Two floats to a bf16 pair (lo in the low half), as the operand registers hold them.
__device__ __forceinline__ uint32_t packBf16(float lo, float hi) {
    const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<const uint32_t*>(&v);
}

}  // namespace lectern::cuda::mma16
