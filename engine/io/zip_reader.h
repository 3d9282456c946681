// A careful reader for the zip archives torch.save writes: stored (uncompressed) entries
// only, ZIP64 understood, every entry's central-directory record checked against its local
// header, names refused when they could escape a folder, and CRC-32 verified on read.
// It never writes anything: there is no extraction path in the API.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "io/byte_source.h"
#include "lectern/status.h"

namespace lectern::io {

struct ZipEntry {
    std::string name;
    uint64_t dataOffset = 0;  // where the entry's bytes start in the archive
    uint64_t size = 0;
    uint32_t crc32 = 0;
};

class ZipReader {
public:
    // Reads and checks the central directory. `source` must outlive the reader.
    static Expected<ZipReader> open(const ByteSource& source);

    const std::vector<ZipEntry>& entries() const { return entries_; }
    const ZipEntry* find(const std::string& name) const;
    // Reads the whole entry into dst (entry.size bytes) and checks its CRC-32.
    Status read(const ZipEntry& entry, uint8_t* dst) const;

private:
    explicit ZipReader(const ByteSource& source) : source_(&source) {}
    const ByteSource* source_;
    std::vector<ZipEntry> entries_;  // sorted by name
};

uint32_t crc32Update(uint32_t crc, const uint8_t* data, size_t n);

}  // namespace lectern::io
