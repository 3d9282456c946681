// Pieces shared by the safetensors reader, writer and index loader (not public API).
#pragma once

#include <string>

#include "io/byte_source.h"
#include "io/safetensors.h"

namespace lectern::io {

constexpr size_t kMaxRank = 16;

// Makes an error "<file>: <message>" and records its code.
struct StError {
    std::string file;
    SafetensorsError* code;
    Status operator()(SafetensorsError c, const std::string& message) const {
        if (code) *code = c;
        return Status::error(file + ": " + message);
    }
};

Expected<SafetensorsFile> safetensorsReadSource(const ByteSource& source, SafetensorsError* code);

}  // namespace lectern::io
