// Strict JSON parsing for the engine's file formats (safetensors headers, index files,
// tokenizer.json): nlohmann::json plus what the readers need beyond it, namely an error
// for a key repeated in one object (nlohmann keeps the last silently) and a nesting limit.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "lectern/status.h"

namespace lectern::io {

enum class JsonError { None, Invalid, DuplicateKey, TooDeep, TooLong };

struct JsonParseResult {
    nlohmann::json value;
    JsonError error = JsonError::None;
    std::string message;  // e.g. "invalid JSON at byte 17: ..." or "duplicate key \"x\""
};

constexpr int kJsonMaxDepth = 64;

// Shape limits checked while parsing, so a hostile document is refused before its tree is
// built (a safetensors header nests 3 deep and holds no array longer than 16).
struct JsonLimits {
    int maxDepth = kJsonMaxDepth;
    size_t maxArrayLength = SIZE_MAX;
};

JsonParseResult jsonParseStrict(const char* begin, const char* end, const JsonLimits& limits = {});

}  // namespace lectern::io
