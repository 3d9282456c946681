// RawTensor helpers: dtype names and sizes, and conversion of stored tensors to fp32.
// Half and bfloat16 are decoded bit by bit here so the engine needs no compiler
// extension (_Float16) and gives the same result on every machine.
#include "io/raw_tensor.h"

#include <cstring>

namespace lectern::io {

const char* dtypeName(DType dtype) {
    switch (dtype) {
        case DType::F64:
            return "F64";
        case DType::F32:
            return "F32";
        case DType::F16:
            return "F16";
        case DType::BF16:
            return "BF16";
        case DType::I64:
            return "I64";
        case DType::I32:
            return "I32";
        case DType::I16:
            return "I16";
        case DType::I8:
            return "I8";
        case DType::U8:
            return "U8";
        case DType::Bool:
            return "BOOL";
    }
    return "?";
}

int dtypeSize(DType dtype) {
    switch (dtype) {
        case DType::F64:
        case DType::I64:
            return 8;
        case DType::F32:
        case DType::I32:
            return 4;
        case DType::F16:
        case DType::BF16:
        case DType::I16:
            return 2;
        case DType::I8:
        case DType::U8:
        case DType::Bool:
            return 1;
    }
    return 1;
}

int64_t RawTensor::numel() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
}

namespace {

float halfToFloat(uint16_t h) {
    const uint32_t sign = uint32_t(h & 0x8000u) << 16;
    uint32_t exponent = (h >> 10) & 0x1fu;
    uint32_t mantissa = h & 0x3ffu;
    uint32_t bits;
    if (exponent == 0x1f) {  // inf or NaN keep their payload
        bits = sign | 0x7f800000u | (mantissa << 13);
    } else if (exponent != 0) {
        bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
    } else if (mantissa == 0) {
        bits = sign;
    } else {  // subnormal half: normalise into an fp32 normal number
        exponent = 113;
        while ((mantissa & 0x400u) == 0) {
            mantissa <<= 1;
            --exponent;
        }
        bits = sign | (exponent << 23) | ((mantissa & 0x3ffu) << 13);
    }
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

template <typename T>
T loadLE(const uint8_t* p) {
    T v;
    std::memcpy(&v, p, sizeof(T));  // the engine targets little-endian hosts only
    return v;
}

}  // namespace

Expected<std::vector<float>> RawTensor::toFloat32() const {
    for (int64_t d : shape) {
        if (d < 0) return Status::error("tensor has a negative dimension");
    }
    const int64_t n = numel();
    const int size = dtypeSize(dtype);
    if (n < 0 || uint64_t(n) * uint64_t(size) != bytes.size()) {
        return Status::error(std::string("tensor of dtype ") + dtypeName(dtype) + " holds " +
                             std::to_string(bytes.size()) + " bytes, its shape needs " +
                             std::to_string(uint64_t(n) * uint64_t(size)));
    }
    std::vector<float> out(static_cast<size_t>(n));
    const uint8_t* p = bytes.data();
    for (int64_t i = 0; i < n; ++i, p += size) {
        float v = 0;
        switch (dtype) {
            case DType::F64:
                v = float(loadLE<double>(p));
                break;
            case DType::F32:
                v = loadLE<float>(p);
                break;
            case DType::F16:
                v = halfToFloat(loadLE<uint16_t>(p));
                break;
            case DType::BF16: {
                const uint32_t bits = uint32_t(loadLE<uint16_t>(p)) << 16;
                std::memcpy(&v, &bits, 4);
                break;
            }
            case DType::I64:
                v = float(loadLE<int64_t>(p));
                break;
            case DType::I32:
                v = float(loadLE<int32_t>(p));
                break;
            case DType::I16:
                v = float(loadLE<int16_t>(p));
                break;
            case DType::I8:
                v = float(loadLE<int8_t>(p));
                break;
            case DType::U8:
                v = float(*p);
                break;
            case DType::Bool:
                v = *p ? 1.0f : 0.0f;
                break;
        }
        out[size_t(i)] = v;
    }
    return out;
}

RawTensor RawTensor::fromFloat32(const std::vector<float>& values, std::vector<int64_t> shape) {
    RawTensor t;
    t.dtype = DType::F32;
    t.shape = std::move(shape);
    t.bytes.resize(values.size() * 4);
    if (!values.empty()) std::memcpy(t.bytes.data(), values.data(), t.bytes.size());
    return t;
}

RawTensor RawTensor::fromInt32(const std::vector<int32_t>& values, std::vector<int64_t> shape) {
    RawTensor t;
    t.dtype = DType::I32;
    t.shape = std::move(shape);
    t.bytes.resize(values.size() * 4);
    if (!values.empty()) std::memcpy(t.bytes.data(), values.data(), t.bytes.size());
    return t;
}

}  // namespace lectern::io
