// Loading tokenizer.json: each section is checked and turned into TokenizerImpl. What is
// not understood is refused with its name, never ignored, so a tokenizer either encodes
// exactly as Hugging Face would or does not load. Sizes are checked before allocation.
#include <algorithm>
#include <fstream>

#include "io/json_strict.h"
#include "io/tokenizer_impl.h"
#include "io/tokenizer_parts.h"

namespace lectern::io {

namespace {

using nlohmann::json;

// Llama-3's file is 9 MB and a 256k vocabulary about 35 MB; the parsed tree costs a few
// times the text, so this bounds what a hostile file can make us allocate.
constexpr size_t kMaxTokenizerFile = 64u << 20;
constexpr int64_t kMaxVocab = 1 << 24;

Status readVocab(const json& model, TokenizerImpl& t, const TkError& err) {
    const json* vocab = model.contains("vocab") ? &model["vocab"] : nullptr;
    if (!vocab || !vocab->is_object() || vocab->empty())
        return err("model.vocab is not a non-empty object");
    if (int64_t(vocab->size()) > kMaxVocab) return err("model.vocab has more than 2^24 tokens");
    for (const auto& [token, id] : vocab->items()) {
        if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() >= kMaxVocab) {
            return err("vocab id of \"" + token + "\" is not an integer in [0, 2^24)");
        }
        if (token.empty()) return err("vocab holds an empty token");
        t.vocab.emplace(token, int32_t(id.get<int64_t>()));
    }
    return Status::ok();
}

Status readMerges(const json& model, TokenizerImpl& t, const TkError& err) {
    if (!model.contains("merges")) return err("model.merges is missing");
    const json& merges = model["merges"];
    if (!merges.is_array()) return err("model.merges is not an array");
    if (merges.size() > t.vocab.size()) {
        return err("model.merges has " + std::to_string(merges.size()) +
                   " rules, more than the vocabulary's " + std::to_string(t.vocab.size()) +
                   " tokens");
    }
    t.merges.reserve(merges.size());
    int32_t rank = 0;
    for (const json& m : merges) {
        std::string a, b;
        if (m.is_string()) {  // "a b"
            const std::string& s = m.get_ref<const std::string&>();
            const auto space = s.find(' ');
            if (space == std::string::npos || s.find(' ', space + 1) != std::string::npos) {
                return err("merge " + std::to_string(rank) + " \"" + s + "\" is not two tokens");
            }
            a = s.substr(0, space), b = s.substr(space + 1);
        } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
            a = m[0].get<std::string>(), b = m[1].get<std::string>();
        } else {
            return err("merge " + std::to_string(rank) + " is neither \"a b\" nor [a, b]");
        }
        auto ia = t.vocab.find(a), ib = t.vocab.find(b), iab = t.vocab.find(a + b);
        if (ia == t.vocab.end() || ib == t.vocab.end() || iab == t.vocab.end()) {
            return err("merge " + std::to_string(rank) + " (" + a + ", " + b +
                       ") names a token outside the vocab");
        }
        const uint64_t key = uint64_t(uint32_t(ia->second)) << 32 | uint32_t(ib->second);
        t.merges.emplace(key,
                         MergeRule{rank, iab->second});  // a repeated rule keeps its first rank
        ++rank;
    }
    return Status::ok();
}

Status readModel(const json& root, TokenizerImpl& t, const TkError& err) {
    if (!root.contains("model") || !root["model"].is_object()) return err("no \"model\" object");
    const json& model = root["model"];
    const std::string type = model.value("type", model.contains("merges") ? "BPE" : "?");
    if (type != "BPE") {
        return err("tokenizer model type \"" + type + "\" is not supported (only byte-level BPE)");
    }
    for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix", "dropout"}) {
        if (model.contains(key) && !model[key].is_null()) {
            return err(std::string("BPE option \"") + key + "\" is not supported");
        }
    }
    if (model.value("byte_fallback", false)) return err("BPE byte_fallback is not supported");
    t.ignoreMerges = model.value("ignore_merges", false);
    if (Status s = readVocab(model, t, err); !s) return s;
    return readMerges(model, t, err);
}

}  // namespace

Expected<Tokenizer> Tokenizer::parse(std::string_view text, const std::string& name) {
    const TkError err{name};
    if (!available())
        return err("this build has no ICU, which the tokenizer needs for Unicode classes");
    if (text.size() > kMaxTokenizerFile) return err("file larger than 64 MiB");
    JsonParseResult parsed = jsonParseStrict(text.data(), text.data() + text.size());
    if (parsed.error != JsonError::None) return err(parsed.message);
    const json& root = parsed.value;
    if (!root.is_object()) return err("not a JSON object");
    auto impl = std::make_shared<TokenizerImpl>();
    impl->name = name;
    try {
        if (Status s = readModel(root, *impl, err); !s) return s;
        if (Status s = readAddedTokens(root, *impl, err); !s) return s;
        if (Status s = buildIdTable(*impl, err); !s) return s;
        if (Status s = readNormalizer(root, *impl, err); !s) return s;
        if (Status s = readPreTokenizer(root, *impl, err); !s) return s;
        if (Status s = readDecoder(root, err); !s) return s;
        if (Status s = readPostProcessor(root, *impl, err); !s) return s;
    } catch (const json::exception& e) {  // a value of an unexpected type in value()/get()
        return err(std::string("unexpected JSON value: ") + e.what());
    }
    return Tokenizer(std::move(impl));
}

Expected<Tokenizer> Tokenizer::load(const std::string& path) {
    std::ifstream in(path, std::ios::binary | std::ios::ate);
    if (!in) return Status::error(path + ": cannot open");
    const auto size = in.tellg();
    if (size < 0 || uint64_t(size) > kMaxTokenizerFile)
        return Status::error(path + ": unreadable or larger than 64 MiB");
    std::string text(size_t(size), '\0');
    in.seekg(0);
    if (!in.read(text.data(), size)) return Status::error(path + ": cannot read");
    return parse(text, path);
}

bool Tokenizer::available() {
    return LECTERN_HAVE_ICU != 0;
}

}  // namespace lectern::io
