// Tests of RawTensor's conversion to fp32 for every stored dtype, with fp16's special
// values (subnormals, infinities, NaN) and bf16's exact upper-half layout.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "io/raw_tensor.h"

using namespace lectern::io;

namespace {

template <typename T>
RawTensor make(DType dtype, std::initializer_list<T> values) {
    RawTensor t;
    t.dtype = dtype;
    t.shape = {int64_t(values.size())};
    t.bytes.resize(values.size() * sizeof(T));
    std::memcpy(t.bytes.data(), values.begin(), t.bytes.size());
    return t;
}

}  // namespace

TEST(RawTensor, HalfDecodesNormalsSubnormalsAndSpecials) {
    // 1.0, -2.0, 65504 (max), 2^-24 (smallest subnormal), 2^-14 (smallest normal), +inf, NaN, -0
    auto t = make<uint16_t>(DType::F16,
                            {0x3c00, 0xc000, 0x7bff, 0x0001, 0x0400, 0x7c00, 0x7e00, 0x8000});
    auto f = t.toFloat32();
    ASSERT_TRUE(f) << f.error();
    EXPECT_EQ((*f)[0], 1.0f);
    EXPECT_EQ((*f)[1], -2.0f);
    EXPECT_EQ((*f)[2], 65504.0f);
    EXPECT_EQ((*f)[3], std::ldexp(1.0f, -24));
    EXPECT_EQ((*f)[4], std::ldexp(1.0f, -14));
    EXPECT_TRUE(std::isinf((*f)[5]) && (*f)[5] > 0);
    EXPECT_TRUE(std::isnan((*f)[6]));
    EXPECT_TRUE((*f)[7] == 0.0f && std::signbit((*f)[7]));
}

TEST(RawTensor, EveryDtypeConverts) {
    EXPECT_EQ(*make<uint16_t>(DType::BF16, {0x3f80, 0xc0a0}).toFloat32(),
              (std::vector<float>{1.0f, -5.0f}));
    EXPECT_EQ(*make<double>(DType::F64, {0.5, -3.0}).toFloat32(),
              (std::vector<float>{0.5f, -3.0f}));
    EXPECT_EQ(*make<int64_t>(DType::I64, {-7, 9}).toFloat32(), (std::vector<float>{-7, 9}));
    EXPECT_EQ(*make<int32_t>(DType::I32, {-7, 9}).toFloat32(), (std::vector<float>{-7, 9}));
    EXPECT_EQ(*make<int16_t>(DType::I16, {-7, 9}).toFloat32(), (std::vector<float>{-7, 9}));
    EXPECT_EQ(*make<int8_t>(DType::I8, {-7, 9}).toFloat32(), (std::vector<float>{-7, 9}));
    EXPECT_EQ(*make<uint8_t>(DType::U8, {200, 9}).toFloat32(), (std::vector<float>{200, 9}));
    EXPECT_EQ(*make<uint8_t>(DType::Bool, {0, 1}).toFloat32(), (std::vector<float>{0, 1}));
    const auto i32 = RawTensor::fromInt32({1, 2, 3, 4, 5, 6}, {2, 3});
    EXPECT_EQ(i32.numel(), 6);
    EXPECT_EQ(*i32.toFloat32(), (std::vector<float>{1, 2, 3, 4, 5, 6}));
}

TEST(RawTensor, NamesAndSizes) {
    const std::pair<DType, std::pair<const char*, int>> table[] = {
        {DType::F64, {"F64", 8}},   {DType::F32, {"F32", 4}}, {DType::F16, {"F16", 2}},
        {DType::BF16, {"BF16", 2}}, {DType::I64, {"I64", 8}}, {DType::I32, {"I32", 4}},
        {DType::I16, {"I16", 2}},   {DType::I8, {"I8", 1}},   {DType::U8, {"U8", 1}},
        {DType::Bool, {"BOOL", 1}}};
    for (const auto& [dtype, expected] : table) {
        EXPECT_STREQ(dtypeName(dtype), expected.first);
        EXPECT_EQ(dtypeSize(dtype), expected.second);
    }
}

TEST(RawTensor, ByteCountMismatchIsAnError) {
    RawTensor t = RawTensor::fromFloat32({1, 2, 3}, {2, 2});
    auto f = t.toFloat32();
    ASSERT_FALSE(f);
    EXPECT_NE(f.error().find("holds 12 bytes, its shape needs 16"), std::string::npos) << f.error();
    t.shape = {-1, 3};
    EXPECT_FALSE(t.toFloat32());
}
