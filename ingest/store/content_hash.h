// Content hashes of files: XXH3-128 (Debian's libxxhash) over the bytes, as 32 hex
// digits. Fast enough to hash every changed file; collisions are not a security concern
// here (the hash only decides whether to re-extract and which documents share content).
#pragma once

#include <atomic>
#include <filesystem>
#include <string>
#include <string_view>

#include "lectern/status.h"

namespace lectern::store {

Expected<std::string> hashFile(const std::filesystem::path& path,
                               const std::atomic<bool>* cancel = nullptr);
std::string hashBytes(std::string_view bytes);

}  // namespace lectern::store
