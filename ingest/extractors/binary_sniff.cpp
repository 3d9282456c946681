// Magic numbers and a control-byte ratio (binary_sniff.h).
#include "ingest/extractors/binary_sniff.h"

#include <cstdio>

#include "ingest/extractors/text_decode.h"

namespace lectern::ingest {
namespace {

struct Magic {
    size_t offset;
    std::string_view bytes;
    const char* what;
};

using namespace std::string_view_literals;
constexpr Magic kMagics[] = {
    {0, "\x89PNG\r\n\x1A\n"sv, "PNG image"},
    {0, "\xFF\xD8\xFF"sv, "JPEG image"},
    {0, "GIF87a"sv, "GIF image"},
    {0, "GIF89a"sv, "GIF image"},
    {0,
     "\x7F"
     "ELF"sv,
     "ELF executable"},
    {0, "%PDF-"sv, "PDF document"},
    {0, "PK\x03\x04"sv, "ZIP archive"},
    {0, "\x1F\x8B"sv, "gzip archive"},
    {0, "BZh"sv, "bzip2 archive"},
    {0,
     "\xFD"
     "7zXZ\x00"sv,
     "xz archive"},
    {0, "7z\xBC\xAF\x27\x1C"sv, "7-Zip archive"},
    {0, "\x28\xB5\x2F\xFD"sv, "zstd archive"},
    {0, "SQLite format 3\x00"sv, "SQLite database"},
    {0, "\xCA\xFE\xBA\xBE"sv, "Java class or Mach-O universal binary"},
    {0, "\xCF\xFA\xED\xFE"sv, "Mach-O binary"},
    {0,
     "\x00"
     "asm"sv,
     "WebAssembly module"},
    {0, "OggS"sv, "Ogg media"},
    {0, "RIFF"sv, "RIFF media (WAV/AVI/WebP)"},
    {0, "ID3"sv, "MP3 audio"},
    {4, "ftyp"sv, "MP4/QuickTime media"},
    {0, "\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1"sv, "OLE2 document (old MS Office)"},
    {257, "ustar"sv, "tar archive"},
};

std::string hexBytes(std::string_view s) {
    std::string out;
    char buf[4];
    for (size_t i = 0; i < s.size() && i < 4; ++i) {
        std::snprintf(buf, sizeof buf, "%02X", static_cast<unsigned char>(s[i]));
        if (!out.empty()) out += ' ';
        out += buf;
    }
    return out;
}

}  // namespace

std::string sniffBinary(std::string_view head) {
    for (const Magic& m : kMagics) {
        // "BZh" needs a block-size digit after it to be bzip2 rather than a word.
        if (m.bytes == "BZh"sv && (head.size() < 4 || head[3] < '1' || head[3] > '9')) continue;
        if (head.size() >= m.offset + m.bytes.size() &&
            head.substr(m.offset, m.bytes.size()) == m.bytes) {
            return std::string(m.what) + " (magic " + hexBytes(m.bytes) + " at byte " +
                   std::to_string(m.offset) + ")";
        }
    }
    size_t bomLength = 0;
    const std::string charset = detectCharset(head, &bomLength);
    if (bomLength > 0 || charset.rfind("UTF-16", 0) == 0 || charset.rfind("UTF-32", 0) == 0) {
        return {};  // wide text: its NULs are part of the encoding
    }
    size_t control = 0;
    for (const char ch : head) {
        const unsigned char c = static_cast<unsigned char>(ch);
        // Tab, LF, VT, FF, CR, ESC (ANSI colours in logs) and backspace are text.
        if (c < 0x20 && c != '\t' && c != '\n' && c != '\v' && c != '\f' && c != '\r' &&
            c != 0x1B && c != '\b') {
            ++control;
        }
    }
    if (!head.empty() && control * 10 > head.size()) {
        return std::to_string(control) + " of the first " + std::to_string(head.size()) +
               " bytes are control characters";
    }
    return {};
}

}  // namespace lectern::ingest
