// Opening and reading an input file for an extractor, with errors mapped onto the
// document statuses: a file gone since it was listed is Vanished, a FIFO or device is
// refused without blocking, permission problems name the file. Reads are chunked, so
// no extractor holds a whole file.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

#include "ingest/extractors/extractor.h"

namespace lectern::ingest {

class FileInput {
public:
    static constexpr size_t kChunk = size_t(1) << 20;
    static constexpr size_t kHeadBytes = 8192;

    FileInput() = default;
    ~FileInput();
    FileInput(const FileInput&) = delete;
    FileInput& operator=(const FileInput&) = delete;

    // On failure fills result.status (Vanished or Error) and result.message.
    bool open(const std::filesystem::path& path, ExtractResult& result);
    // Reads up to kChunk bytes into `buf` (replacing it); false with result set on a read
    // error; an empty buffer at the end of the file.
    bool read(std::string& buf, ExtractResult& result);
    int64_t size() const { return size_; }
    int fd() const { return fd_; }
    int64_t offset() const { return offset_; }
    const std::filesystem::path& path() const { return path_; }

private:
    int fd_ = -1;
    int64_t size_ = 0;
    int64_t offset_ = 0;
    std::filesystem::path path_;
};

// Test hook (REPO-1 "unreadable" when tests run as root): when set, called before each
// open; a non-zero return is used as the errno of a failed open.
void setOpenFailureHookForTesting(std::function<int(const std::filesystem::path&)> hook);

// Reads the first `max` bytes of a file for sniffing; empty on any error.
std::string readHead(const std::filesystem::path& path, size_t max = FileInput::kHeadBytes);

}  // namespace lectern::ingest
