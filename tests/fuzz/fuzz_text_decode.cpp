// libFuzzer target: the streaming decoder. Output must be valid UTF-8 whatever the input,
// and feeding it in pieces (the first byte picks the size) must give the same text and
// counts as feeding it whole, which exercises every chunk-boundary path.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "ingest/extractors/text_decode.h"

using lectern::ingest::TextDecoder;

static std::string decode(std::string_view in, size_t piece, lectern::ingest::DecodeStats* stats) {
    TextDecoder d;
    std::string out;
    for (size_t i = 0; i < in.size(); i += piece) {
        if (!d.decode(in.substr(i, piece), out).isOk()) std::abort();
    }
    if (!d.finish(out).isOk()) std::abort();
    *stats = d.stats();
    return out;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    const size_t piece = size_t(data[0] % 17) + 1;
    const std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
    lectern::ingest::DecodeStats whole, pieces;
    const std::string a = decode(in, in.size() + 1, &whole);
    const std::string b = decode(in, piece, &pieces);
    if (!lectern::ingest::isValidUtf8(a) || !lectern::ingest::isValidUtf8(b)) {
        std::fprintf(stderr, "decoder produced invalid UTF-8\n");
        std::abort();
    }
    if (a != b || whole.replacedBytes != pieces.replacedBytes || whole.charset != pieces.charset) {
        std::fprintf(stderr, "piecewise decoding differs from whole decoding\n");
        std::abort();
    }
    return 0;
}
