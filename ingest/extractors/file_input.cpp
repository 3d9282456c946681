// Chunked file reading for extractors (file_input.h).
#include "ingest/extractors/file_input.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>

namespace lectern::ingest {
namespace {

std::mutex gHookMutex;
std::function<int(const std::filesystem::path&)> gOpenHook;

int hookErrno(const std::filesystem::path& path) {
    std::lock_guard<std::mutex> lock(gHookMutex);
    return gOpenHook ? gOpenHook(path) : 0;
}

}  // namespace

void setOpenFailureHookForTesting(std::function<int(const std::filesystem::path&)> hook) {
    std::lock_guard<std::mutex> lock(gHookMutex);
    gOpenHook = std::move(hook);
}

FileInput::~FileInput() {
    if (fd_ >= 0) ::close(fd_);
}

bool FileInput::open(const std::filesystem::path& path, ExtractResult& result) {
    path_ = path;
    int err = hookErrno(path);
    if (err == 0) {
        // O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below.
        fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
        if (fd_ < 0) err = errno;
    }
    if (err != 0) {
        result.status = err == ENOENT ? ExtractStatus::Vanished : ExtractStatus::Error;
        result.message =
            path.string() + (err == ENOENT ? ": vanished before it could be read"
                                           : ": cannot open: " + std::string(std::strerror(err)));
        return false;
    }
    struct stat st {};
    if (fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
        result.status = ExtractStatus::Error;
        result.message = path.string() + ": not a regular file (FIFO, socket or device)";
        return false;
    }
    size_ = st.st_size;
    return true;
}

bool FileInput::read(std::string& buf, ExtractResult& result) {
    // Small files (most of a source tree) get a small buffer: no 1 MiB fill per file. One
    // byte more than the size left shows end-of-file, or growth since fstat, in one call.
    const int64_t left = std::max<int64_t>(size_ - offset_, 0) + 1;
    buf.resize(size_t(std::clamp<int64_t>(left, 4096, int64_t(kChunk))));
    for (;;) {
        const ssize_t n = ::read(fd_, buf.data(), buf.size());
        if (n >= 0) {
            buf.resize(size_t(n));
            offset_ += n;
            return true;
        }
        if (errno == EINTR) continue;
        result.status = ExtractStatus::Error;
        result.message = path_.string() + ": read failed at byte " + std::to_string(offset_) +
                         ": " + std::strerror(errno);
        buf.clear();
        return false;
    }
}

std::string readHead(const std::filesystem::path& path, size_t max) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) return {};
    std::string head(max, '\0');
    struct stat st {};
    ssize_t n = 0;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) n = ::read(fd, head.data(), max);
    ::close(fd);
    head.resize(n > 0 ? size_t(n) : 0);
    return head;
}

}  // namespace lectern::ingest
