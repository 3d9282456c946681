// A tensor as stored in a file, before the model converts it: dtype name, shape and the
// little-endian bytes. Every reader (safetensors, torch zip) yields these; every writer
// takes them. Conversion to compute dtypes lives in raw_tensor.cpp.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "lectern/status.h"

namespace lectern::io {

enum class DType { F64, F32, F16, BF16, I64, I32, I16, I8, U8, Bool };

const char* dtypeName(DType dtype);  // safetensors spelling: "F32", "BF16", ...
int dtypeSize(DType dtype);          // bytes per element

struct RawTensor {
    DType dtype = DType::F32;
    std::vector<int64_t> shape;
    std::vector<uint8_t> bytes;  // numel * dtypeSize(dtype), row-major, little-endian

    int64_t numel() const;
    // Converts F64/F32/F16/BF16 (and integer types) to fp32; error names the dtype.
    Expected<std::vector<float>> toFloat32() const;
    static RawTensor fromFloat32(const std::vector<float>& values, std::vector<int64_t> shape);
    static RawTensor fromInt32(const std::vector<int32_t>& values, std::vector<int64_t> shape);
};

using TensorMap = std::map<std::string, RawTensor>;

}  // namespace lectern::io
