// XXH3-128 file hashing, streamed in 1 MiB reads so memory stays flat for huge files.
#include "content_hash.h"

#include <xxhash.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

namespace lectern::store {
namespace {

std::string toHex(XXH128_hash_t hash) {
    char text[33];
    std::snprintf(text, sizeof text, "%016llx%016llx", static_cast<unsigned long long>(hash.high64),
                  static_cast<unsigned long long>(hash.low64));
    return text;
}

struct StateDeleter {
    void operator()(XXH3_state_t* state) const { XXH3_freeState(state); }
};
struct FileCloser {
    void operator()(std::FILE* file) const { std::fclose(file); }
};

}  // namespace

std::string hashBytes(std::string_view bytes) {
    return toHex(XXH3_128bits(bytes.data(), bytes.size()));
}

Expected<std::string> hashFile(const std::filesystem::path& path, const std::atomic<bool>* cancel) {
    std::unique_ptr<std::FILE, FileCloser> file(std::fopen(path.c_str(), "rb"));
    if (!file) return Status::error(path.string() + ": cannot open: " + std::strerror(errno));
    std::unique_ptr<XXH3_state_t, StateDeleter> state(XXH3_createState());
    if (!state || XXH3_128bits_reset(state.get()) != XXH_OK) {
        return Status::error(path.string() + ": out of memory while hashing");
    }
    std::vector<char> buffer(1 << 20);
    for (;;) {
        const size_t got = std::fread(buffer.data(), 1, buffer.size(), file.get());
        if (got > 0) XXH3_128bits_update(state.get(), buffer.data(), got);
        if (got < buffer.size()) {
            if (std::ferror(file.get())) {
                return Status::error(path.string() + ": read error: " + std::strerror(errno));
            }
            break;
        }
        if (cancel && cancel->load(std::memory_order_relaxed)) {
            return Status::error(path.string() + ": cancelled");
        }
    }
    return toHex(XXH3_128bits_digest(state.get()));
}

}  // namespace lectern::store
