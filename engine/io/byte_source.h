// Random-access byte sources for the file readers: a file read with pread, or bytes in
// memory (fuzz targets, tests). Readers check every offset against size() before reading,
// so read() failing means the file changed or the disk failed, not a malformed header.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "lectern/status.h"

namespace lectern::io {

class ByteSource {
public:
    virtual ~ByteSource() = default;
    virtual uint64_t size() const = 0;
    // Reads exactly n bytes at offset into dst; false on a short read or an I/O error.
    virtual bool read(uint64_t offset, void* dst, size_t n) const = 0;
    const std::string& name() const { return name_; }

protected:
    explicit ByteSource(std::string name) : name_(std::move(name)) {}

private:
    std::string name_;
};

class MemorySource final : public ByteSource {
public:
    MemorySource(const uint8_t* data, size_t size, std::string name)
        : ByteSource(std::move(name)), data_(data), size_(size) {}
    uint64_t size() const override { return size_; }
    bool read(uint64_t offset, void* dst, size_t n) const override;

private:
    const uint8_t* data_;
    size_t size_;
};

class FileSource final : public ByteSource {
public:
    static Expected<std::unique_ptr<FileSource>> open(const std::string& path);
    ~FileSource() override;
    FileSource(const FileSource&) = delete;
    FileSource& operator=(const FileSource&) = delete;
    uint64_t size() const override { return size_; }
    bool read(uint64_t offset, void* dst, size_t n) const override;

private:
    FileSource(std::string path, int fd, uint64_t size)
        : ByteSource(std::move(path)), fd_(fd), size_(size) {}
    int fd_;
    uint64_t size_;
};

// Writes `bytes` to `path` atomically: temp file beside it, fsync, rename, fsync folder.
// On error `path` keeps its old content and the temp file is removed.
Status writeFileAtomic(const std::string& path, const std::string& bytes);

}  // namespace lectern::io
