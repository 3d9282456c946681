// Encoding and decoding of the PDF worker protocol (see pdf_worker_protocol.h). The decoder is
// a bounds-checked cursor: every read says what it expected, so a torn or hostile frame
// becomes an error message instead of an overread.
#include "ingest/extractors/pdf_worker_protocol.h"

#include <unistd.h>
#include <cerrno>
#include <cstring>

namespace lectern::ingest::pdfproto {
namespace {

void putU32(std::string& out, uint32_t v) {
    for (int i = 0; i < 4; ++i) out.push_back(char((v >> (8 * i)) & 0xff));
}
void putI64(std::string& out, int64_t value) {
    const auto v = uint64_t(value);
    for (int i = 0; i < 8; ++i) out.push_back(char((v >> (8 * i)) & 0xff));
}
void putStr(std::string& out, const std::string& s) {
    putU32(out, uint32_t(s.size()));
    out += s;
}

class Cursor {
public:
    explicit Cursor(const std::string& s) : s_(s) {}
    bool u8(uint8_t& v) {
        if (pos_ + 1 > s_.size()) return fail("u8");
        v = uint8_t(s_[pos_++]);
        return true;
    }
    bool u32(uint32_t& v) {
        if (pos_ + 4 > s_.size()) return fail("u32");
        v = 0;
        for (int i = 0; i < 4; ++i) v |= uint32_t(uint8_t(s_[pos_ + i])) << (8 * i);
        pos_ += 4;
        return true;
    }
    bool i64(int64_t& v) {
        if (pos_ + 8 > s_.size()) return fail("i64");
        uint64_t u = 0;
        for (int i = 0; i < 8; ++i) u |= uint64_t(uint8_t(s_[pos_ + i])) << (8 * i);
        pos_ += 8;
        v = int64_t(u);
        return true;
    }
    bool str(std::string& v) {
        uint32_t n = 0;
        if (!u32(n)) return false;
        if (n > s_.size() - pos_) return fail("string bytes");
        v.assign(s_, pos_, n);
        pos_ += n;
        return true;
    }
    Status status(const char* what) const {
        if (!error_.empty()) {
            return Status::error(std::string("pdf worker protocol: truncated ") + what +
                                 " frame (wanted " + error_ + " at byte " + std::to_string(pos_) +
                                 ")");
        }
        if (pos_ != s_.size()) {
            return Status::error(std::string("pdf worker protocol: ") + what + " frame has " +
                                 std::to_string(s_.size() - pos_) + " trailing bytes");
        }
        return Status::ok();
    }

private:
    bool fail(const char* wanted) {
        if (error_.empty()) error_ = wanted;
        return false;
    }
    const std::string& s_;
    size_t pos_ = 0;
    std::string error_;
};

}  // namespace

void appendFrame(std::string& out, FrameType type, const std::string& payload) {
    out.push_back(char(type));
    putU32(out, uint32_t(payload.size()));
    out += payload;
}

Expected<size_t> parseFrame(const std::string& buffer, Frame& out) {
    if (buffer.size() < kFrameHeaderSize) return size_t(0);
    const auto type = uint8_t(buffer[0]);
    uint32_t length = 0;
    for (int i = 0; i < 4; ++i) length |= uint32_t(uint8_t(buffer[1 + i])) << (8 * i);
    if (type < uint8_t(FrameType::Request) || type > uint8_t(FrameType::Result)) {
        return Status::error("pdf worker protocol: unknown frame type " + std::to_string(type));
    }
    if (length > kMaxFramePayload) {
        return Status::error("pdf worker protocol: frame of " + std::to_string(length) +
                             " bytes exceeds the limit");
    }
    if (buffer.size() < kFrameHeaderSize + length) return size_t(0);
    out.type = FrameType(type);
    out.payload.assign(buffer, kFrameHeaderSize, length);
    return kFrameHeaderSize + length;
}

std::string encodeRequest(const WorkerRequest& r) {
    std::string out;
    putStr(out, r.path);
    putStr(out, r.password);
    putStr(out, r.testHook);
    out.push_back(r.ocr ? 1 : 0);
    return out;
}

Expected<WorkerRequest> decodeRequest(const std::string& payload) {
    WorkerRequest r;
    Cursor c(payload);
    uint8_t ocr = 0;
    (void)(c.str(r.path) && c.str(r.password) && c.str(r.testHook) && c.u8(ocr));
    r.ocr = ocr != 0;
    if (Status s = c.status("request"); !s) return s;
    return r;
}

std::string encodePage(int64_t page) {
    std::string out;
    putI64(out, page);
    return out;
}

Expected<int64_t> decodePage(const std::string& payload) {
    int64_t page = 0;
    Cursor c(payload);
    c.i64(page);
    if (Status s = c.status("page"); !s) return s;
    return page;
}

std::string encodeMeta(const DocumentMeta& m) {
    std::string out;
    putStr(out, m.title);
    putStr(out, m.author);
    putStr(out, m.mimeType);
    putStr(out, m.language);
    putI64(out, m.pageCount);
    putU32(out, uint32_t(m.extra.size()));
    for (const auto& [key, value] : m.extra) {
        putStr(out, key);
        putStr(out, value);
    }
    return out;
}

Expected<DocumentMeta> decodeMeta(const std::string& payload) {
    DocumentMeta m;
    Cursor c(payload);
    uint32_t count = 0;
    bool ok = c.str(m.title) && c.str(m.author) && c.str(m.mimeType) && c.str(m.language) &&
              c.i64(m.pageCount) && c.u32(count);
    for (uint32_t i = 0; ok && i < count; ++i) {
        std::string key, value;
        ok = c.str(key) && c.str(value);
        if (ok) m.extra[key] = value;
    }
    if (Status s = c.status("meta"); !s) return s;
    return m;
}

std::string encodeSegment(const Segment& s) {
    std::string out;
    out.push_back(char(s.kind));
    putI64(out, s.ordinal);
    putI64(out, s.lineStart);
    putI64(out, s.lineEnd);
    putStr(out, s.label);
    putStr(out, s.text);
    out.push_back(s.ocr ? 1 : 0);
    return out;
}

Expected<Segment> decodeSegment(const std::string& payload) {
    Segment s;
    Cursor c(payload);
    uint8_t kind = 0, ocr = 0;
    (void)(c.u8(kind) && c.i64(s.ordinal) && c.i64(s.lineStart) && c.i64(s.lineEnd) &&
           c.str(s.label) && c.str(s.text) && c.u8(ocr));
    if (Status st = c.status("segment"); !st) return st;
    if (kind > uint8_t(SegmentKind::Section)) {
        return Status::error("pdf worker protocol: unknown segment kind " + std::to_string(kind));
    }
    s.kind = SegmentKind(kind);
    s.ocr = ocr != 0;
    return s;
}

std::string encodeResult(const WorkerResult& r) {
    std::string out;
    out.push_back(char(r.status));
    putStr(out, r.message);
    putI64(out, r.replacedBytes);
    return out;
}

Expected<WorkerResult> decodeResult(const std::string& payload) {
    WorkerResult r;
    Cursor c(payload);
    uint8_t status = 0;
    (void)(c.u8(status) && c.str(r.message) && c.i64(r.replacedBytes));
    if (Status s = c.status("result"); !s) return s;
    if (status > uint8_t(ExtractStatus::Crashed)) {
        return Status::error("pdf worker protocol: unknown status " + std::to_string(status));
    }
    r.status = ExtractStatus(status);
    return r;
}

Status writeAll(int fd, const std::string& bytes) {
    size_t done = 0;
    while (done < bytes.size()) {
        const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0)
            return Status::error(std::string("pdf worker: write failed: ") + strerror(errno));
        done += size_t(n);
    }
    return Status::ok();
}

Expected<Frame> readFrameBlocking(int fd) {
    std::string buffer;
    char chunk[65536];
    for (;;) {
        Frame frame;
        auto used = parseFrame(buffer, frame);
        if (!used) return used.status();
        if (*used > 0) return frame;
        // Read no further than the current frame so that the next one stays in the socket.
        size_t want = kFrameHeaderSize - std::min(buffer.size(), kFrameHeaderSize);
        if (want == 0) {
            uint32_t length = 0;
            for (int i = 0; i < 4; ++i) length |= uint32_t(uint8_t(buffer[1 + i])) << (8 * i);
            want = kFrameHeaderSize + length - buffer.size();
        }
        const ssize_t n = ::read(fd, chunk, std::min(want, sizeof chunk));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return Status::error(std::string("pdf worker: read failed: ") + strerror(errno));
        if (n == 0) {
            return Status::error(buffer.empty() ? "eof"
                                                : "pdf worker protocol: eof inside a frame");
        }
        buffer.append(chunk, size_t(n));
    }
}

}  // namespace lectern::ingest::pdfproto
