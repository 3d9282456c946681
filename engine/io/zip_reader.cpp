// ZipReader: end-of-central-directory search, ZIP64 records, central directory, local
// headers. Every offset and size is checked against the archive size before it is used;
// the first problem found is returned as "<archive>: <what>, entry <name>".
#include "io/zip_reader.h"

#include <algorithm>
#include <array>

namespace lectern::io {

namespace {

constexpr uint32_t kEocdSig = 0x06054b50, kZip64EocdSig = 0x06064b50, kZip64LocatorSig = 0x07064b50,
                   kCentralSig = 0x02014b50, kLocalSig = 0x04034b50;
constexpr size_t kEocdSize = 22, kCentralSize = 46, kLocalSize = 30;
constexpr uint32_t kMaxEntries = 1u << 20;  // a million storages is far past any checkpoint

uint64_t le(const uint8_t* p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i) v = (v << 8) | p[i];
    return v;
}

struct Directory {
    uint64_t entries = 0, size = 0, offset = 0;
};

// Finds the end-of-central-directory record (and its ZIP64 twin where fields overflow).
Expected<Directory> findDirectory(const ByteSource& src, const std::string& name) {
    const uint64_t size = src.size();
    if (size < kEocdSize) return Status::error(name + ": too short to be a zip archive");
    const uint64_t tail = std::min<uint64_t>(size, kEocdSize + 0xffff);
    std::vector<uint8_t> buf(tail);
    if (!src.read(size - tail, buf.data(), tail)) return Status::error(name + ": cannot read");
    for (uint64_t i = tail - kEocdSize + 1; i-- > 0;) {
        const uint8_t* p = buf.data() + i;
        if (le(p, 4) != kEocdSig || i + kEocdSize + le(p + 20, 2) != tail) continue;
        if (le(p + 4, 2) != 0 || le(p + 6, 2) != 0)
            return Status::error(name + ": multi-disk zip archives are not supported");
        Directory d{le(p + 10, 2), le(p + 12, 4), le(p + 16, 4)};
        if (d.entries != 0xffff && d.size != 0xffffffff && d.offset != 0xffffffff) return d;
        const uint64_t eocdPos = size - tail + i;
        uint8_t loc[20], z[56];
        if (eocdPos < 20 || !src.read(eocdPos - 20, loc, 20) || le(loc, 4) != kZip64LocatorSig) {
            return Status::error(name + ": ZIP64 locator missing");
        }
        const uint64_t zpos = le(loc + 8, 8);
        if (zpos > eocdPos - 20 || eocdPos - 20 - zpos < 56 || !src.read(zpos, z, 56) ||
            le(z, 4) != kZip64EocdSig) {
            return Status::error(name + ": ZIP64 end of central directory is damaged");
        }
        return Directory{le(z + 32, 8), le(z + 40, 8), le(z + 48, 8)};
    }
    return Status::error(name + ": no end-of-central-directory record (not a zip archive?)");
}

// Refuses names that could leave a folder or mean different things on different systems.
bool safeName(const std::string& n) {
    if (n.empty() || n.front() == '/' || n.find('\\') != std::string::npos ||
        n.find(':') != std::string::npos || n.find('\0') != std::string::npos) {
        return false;
    }
    size_t start = 0;
    while (start <= n.size()) {
        size_t end = n.find('/', start);
        if (end == std::string::npos) end = n.size();
        const std::string part = n.substr(start, end - start);
        if (part == ".." || part == "." || (part.empty() && end != n.size())) return false;
        start = end + 1;
    }
    return true;
}

// Applies the ZIP64 extended-information extra field (id 1) to overflowed fields.
bool applyZip64(const uint8_t* extra, size_t n, uint64_t* usize, uint64_t* csize, uint64_t* off) {
    for (size_t i = 0; i + 4 <= n;) {
        const uint64_t id = le(extra + i, 2), len = le(extra + i + 2, 2);
        if (i + 4 + len > n) return false;
        if (id == 1) {
            const uint8_t* p = extra + i + 4;
            size_t used = 0;
            for (uint64_t* field : {usize, csize, off}) {
                if (*field != 0xffffffff) continue;
                if (used + 8 > len) return false;
                *field = le(p + used, 8);
                used += 8;
            }
            return true;
        }
        i += 4 + len;
    }
    return *usize != 0xffffffff && *csize != 0xffffffff && *off != 0xffffffff;
}

// Reads central-directory record k at cd[*pos], checks it against its local header and
// advances *pos past it.
Expected<ZipEntry> readEntry(const ByteSource& src, const std::vector<uint8_t>& cd, size_t* pos,
                             uint64_t k, uint64_t dirOffset) {
    const std::string& an = src.name();
    if (*pos + kCentralSize > cd.size() || le(&cd[*pos], 4) != kCentralSig) {
        return Status::error(an + ": central directory record " + std::to_string(k) +
                             " is damaged");
    }
    const uint8_t* h = &cd[*pos];
    const uint64_t flags = le(h + 8, 2), method = le(h + 10, 2), nameLen = le(h + 28, 2),
                   extraLen = le(h + 30, 2), commentLen = le(h + 32, 2);
    uint64_t csize = le(h + 20, 4), usize = le(h + 24, 4), local = le(h + 42, 4);
    if (*pos + kCentralSize + nameLen + extraLen + commentLen > cd.size()) {
        return Status::error(an + ": central directory record " + std::to_string(k) +
                             " is truncated");
    }
    *pos += size_t(kCentralSize + nameLen + extraLen + commentLen);
    ZipEntry e;
    e.name.assign(reinterpret_cast<const char*>(h + kCentralSize), nameLen);
    e.crc32 = uint32_t(le(h + 16, 4));
    const std::string where = an + ": entry \"" + e.name + "\"";
    if (!applyZip64(h + kCentralSize + nameLen, extraLen, &usize, &csize, &local)) {
        return Status::error(where + ": damaged ZIP64 extra field");
    }
    if (!safeName(e.name)) return Status::error(where + ": unsafe entry name");
    if (flags & 1) return Status::error(where + ": encrypted entries are not supported");
    if (method != 0) {
        return Status::error(where + ": compressed (method " + std::to_string(method) +
                             "); only stored entries are supported");
    }
    if (csize != usize) return Status::error(where + ": stored entry with two different sizes");
    uint8_t lh[kLocalSize];
    const uint64_t size = src.size();
    if (local > size || size - local < kLocalSize || !src.read(local, lh, kLocalSize) ||
        le(lh, 4) != kLocalSig) {
        return Status::error(where + ": local header missing or outside the archive");
    }
    const uint64_t lnameLen = le(lh + 26, 2), lextraLen = le(lh + 28, 2);
    std::string lname(size_t(lnameLen), '\0');
    if (le(lh + 8, 2) != method || lnameLen != nameLen ||
        !src.read(local + kLocalSize, lname.data(), lname.size()) || lname != e.name) {
        return Status::error(where + ": local header disagrees with the central directory");
    }
    // With a data descriptor (flag bit 3) the local CRC and sizes are zero by design.
    const bool descriptor = le(lh + 6, 2) & 8;
    const uint64_t lsize = le(lh + 22, 4);
    if (!descriptor && (le(lh + 14, 4) != e.crc32 || (lsize != usize && lsize != 0xffffffff))) {
        return Status::error(where +
                             ": local header sizes or CRC disagree with the central directory");
    }
    e.dataOffset = local + kLocalSize + lnameLen + lextraLen;
    e.size = usize;
    if (e.dataOffset > dirOffset || e.size > dirOffset - e.dataOffset) {
        return Status::error(where + ": declared size runs past the entry's space in the archive");
    }
    return e;
}

}  // namespace

Expected<ZipReader> ZipReader::open(const ByteSource& src) {
    const std::string& an = src.name();
    auto dir = findDirectory(src, an);
    if (!dir) return dir.status();
    const uint64_t size = src.size();
    if (dir->offset > size || dir->size > size - dir->offset || dir->entries > kMaxEntries ||
        dir->entries * kCentralSize > dir->size) {
        return Status::error(an + ": central directory lies outside the archive");
    }
    std::vector<uint8_t> cd(size_t(dir->size));
    if (!src.read(dir->offset, cd.data(), cd.size())) return Status::error(an + ": cannot read");
    ZipReader reader(src);
    size_t pos = 0;
    for (uint64_t k = 0; k < dir->entries; ++k) {
        auto e = readEntry(src, cd, &pos, k, dir->offset);
        if (!e) return e.status();
        reader.entries_.push_back(std::move(*e));
    }
    auto& es = reader.entries_;
    std::sort(es.begin(), es.end(),
              [](const ZipEntry& a, const ZipEntry& b) { return a.name < b.name; });
    for (size_t i = 1; i < es.size(); ++i) {
        if (es[i].name == es[i - 1].name) {
            return Status::error(an + ": duplicate entry \"" + es[i].name + "\"");
        }
    }
    return reader;
}

const ZipEntry* ZipReader::find(const std::string& name) const {
    auto it = std::lower_bound(entries_.begin(), entries_.end(), name,
                               [](const ZipEntry& e, const std::string& n) { return e.name < n; });
    return it != entries_.end() && it->name == name ? &*it : nullptr;
}

Status ZipReader::read(const ZipEntry& entry, uint8_t* dst) const {
    const std::string where = source_->name() + ": entry \"" + entry.name + "\"";
    if (!source_->read(entry.dataOffset, dst, size_t(entry.size)))
        return Status::error(where + ": cannot read");
    if (crc32Update(0, dst, size_t(entry.size)) != entry.crc32)
        return Status::error(where + ": CRC-32 mismatch (damaged)");
    return Status::ok();
}

uint32_t crc32Update(uint32_t crc, const uint8_t* data, size_t n) {
    // Slicing-by-4 over the reflected polynomial 0xEDB88320: a few GB/s, no zlib needed.
    static const auto tables = [] {
        std::array<std::array<uint32_t, 256>, 4> t{};
        for (uint32_t i = 0; i < 256; ++i) {
            uint32_t c = i;
            for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
            t[0][i] = c;
        }
        for (uint32_t i = 0; i < 256; ++i) {
            for (int s = 1; s < 4; ++s) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xff];
        }
        return t;
    }();
    crc = ~crc;
    while (n >= 4) {
        crc ^= uint32_t(data[0]) | uint32_t(data[1]) << 8 | uint32_t(data[2]) << 16 |
               uint32_t(data[3]) << 24;
        crc = tables[3][crc & 0xff] ^ tables[2][(crc >> 8) & 0xff] ^ tables[1][(crc >> 16) & 0xff] ^
              tables[0][crc >> 24];
        data += 4;
        n -= 4;
    }
    while (n-- > 0) crc = tables[0][(crc ^ *data++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

}  // namespace lectern::io
