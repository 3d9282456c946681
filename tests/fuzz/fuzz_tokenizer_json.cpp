// libFuzzer target for tokenizer.json and the encoder. An input that loads as a tokenizer
// encodes and decodes a few fixed strings; any other input is encoded as text with a small
// built-in GPT-2-style tokenizer (no normalizer), where decode(encode(x)) == x must hold
// for every byte string, invalid UTF-8 included.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "io/tokenizer_json.h"

using namespace lectern::io;

namespace {

std::string byteLevel(int b) {
    // GPT-2 bytes_to_unicode: printable Latin-1 maps to itself, the rest to U+0100 + n.
    static int mapped[256] = {};
    static bool ready = false;
    if (!ready) {
        int next = 256;
        for (int i = 0; i < 256; ++i) {
            const bool printable = (i >= '!' && i <= '~') || (i >= 0xa1 && i <= 0xac) || i >= 0xae;
            mapped[i] = printable ? i : next++;
        }
        ready = true;
    }
    const int c = mapped[b];
    std::string s;
    if (c < 0x80) {
        s.push_back(char(c));
    } else {
        s.push_back(char(0xc0 | (c >> 6)));
        s.push_back(char(0x80 | (c & 0x3f)));
    }
    return s;
}

const Tokenizer* builtIn() {
    static const Tokenizer* t = [] {
        std::string vocab;
        for (int b = 0; b < 256; ++b) {
            std::string tok = byteLevel(b);
            if (tok == "\"" || tok == "\\") tok = "\\" + tok;
            vocab += (b ? "," : "") + ("\"" + tok + "\":" + std::to_string(b));
        }
        vocab += R"(,"th":256,"the":257,"Ġthe":258)";
        const std::string json =
            R"({"added_tokens":[{"id":259,"content":"<|endoftext|>","special":true,"normalized":false}],)"
            R"("normalizer":null,"pre_tokenizer":{"type":"ByteLevel","add_prefix_space":false,"use_regex":true},)"
            R"("decoder":{"type":"ByteLevel"},"model":{"type":"BPE","vocab":{)" +
            vocab + R"(},"merges":["t h","th e","Ġ the"]}})";
        auto parsed = Tokenizer::parse(json, "builtin");
        return parsed ? new Tokenizer(std::move(*parsed)) : nullptr;
    }();
    return t;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    auto loaded = Tokenizer::parse(input, "fuzz.json");
    if (loaded) {
        for (std::string_view text :
             {"Hello, world! It's 2024.\n", "\xff\xfe caf\xc3\xa9 \xe6\x9d\xb1", ""}) {
            auto back = loaded->decode(loaded->encode(text));
            if (!back) std::abort();  // encode only yields ids the vocabulary has
        }
        return 0;
    }
    const Tokenizer* t = builtIn();
    if (!t) return 0;  // a build without ICU has no tokenizer
    for (bool special : {true, false}) {
        auto back = t->decode(t->encode(input, {.parseSpecialTokens = special}));
        if (!back || *back != input) std::abort();
    }
    return 0;
}
