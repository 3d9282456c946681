// The token-batch file every engine command reads: a safetensors file holding an int32
// `input_ids` tensor [B, L], as in ../shared/golden/*/io.safetensors.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lectern/status.h"

namespace lectern::io {

// Returns the ids row-major and sets B and L; errors name the file and what was expected.
Expected<std::vector<int32_t>> readInputIds(const std::string& path, int64_t& B, int64_t& L);

}  // namespace lectern::io
