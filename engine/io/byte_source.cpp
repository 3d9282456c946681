// ByteSource implementations (pread over a file descriptor, or a memory span) and the
// atomic file writer shared by every engine writer (safetensors, state files).
#include "io/byte_source.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

namespace lectern::io {

bool MemorySource::read(uint64_t offset, void* dst, size_t n) const {
    if (offset > size_ || n > size_ - offset) return false;
    if (n != 0) std::memcpy(dst, data_ + offset, n);
    return true;
}

Expected<std::unique_ptr<FileSource>> FileSource::open(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Status::error(path + ": cannot open: " + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        ::close(fd);
        return Status::error(path + ": not a regular file");
    }
    return std::unique_ptr<FileSource>(new FileSource(path, fd, uint64_t(st.st_size)));
}

FileSource::~FileSource() {
    ::close(fd_);
}

bool FileSource::read(uint64_t offset, void* dst, size_t n) const {
    if (offset > size_ || n > size_ - offset) return false;
    auto* out = static_cast<uint8_t*>(dst);
    while (n > 0) {
        const ssize_t got = ::pread(fd_, out, n, off_t(offset));
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return false;
        out += got;
        offset += uint64_t(got);
        n -= size_t(got);
    }
    return true;
}

namespace {

bool writeAll(int fd, const char* data, size_t n) {
    while (n > 0) {
        const ssize_t put = ::write(fd, data, n);
        if (put < 0 && errno == EINTR) continue;
        if (put <= 0) return false;
        data += put;
        n -= size_t(put);
    }
    return true;
}

std::string folderOf(const std::string& path) {
    const auto slash = path.find_last_of('/');
    if (slash == std::string::npos) return ".";
    return slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

Status writeFileAtomic(const std::string& path, const std::string& bytes) {
    static std::atomic<unsigned> counter{0};
    const std::string temp =
        path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter.fetch_add(1));
    const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return Status::error(path + ": cannot create " + temp + ": " + std::strerror(errno));
    const bool written = writeAll(fd, bytes.data(), bytes.size()) && ::fsync(fd) == 0;
    const int writeErrno = errno;
    const bool closed = ::close(fd) == 0;
    if (!written || !closed) {
        ::unlink(temp.c_str());
        return Status::error(path +
                             ": cannot write: " + std::strerror(written ? errno : writeErrno));
    }
    if (::rename(temp.c_str(), path.c_str()) != 0) {
        const int renameErrno = errno;
        ::unlink(temp.c_str());
        return Status::error(path + ": cannot rename temp file: " + std::strerror(renameErrno));
    }
    // The rename is durable only once the folder's entry is on disk.
    const int dirFd = ::open(folderOf(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirFd >= 0) {
        ::fsync(dirFd);
        ::close(dirFd);
    }
    return Status::ok();
}

}  // namespace lectern::io
