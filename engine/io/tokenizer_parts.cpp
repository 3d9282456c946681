// Readers for tokenizer.json's added_tokens, normalizer, pre_tokenizer, decoder and
// post_processor, and the dense id table (every id from 0 to the largest names a token).
#include <algorithm>

#include "io/tokenizer_parts.h"

namespace lectern::io {

namespace {

using nlohmann::json;

const char* const kGpt2Regex =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
const char* const kLlama3Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

std::string typeOf(const json& j) {
    return j.is_object() && j.contains("type") && j["type"].is_string()
               ? j["type"].get<std::string>()
               : "?";
}

Status readNormalizerNode(const json& n, TokenizerImpl& t, const TkError& err) {
    const std::string type = typeOf(n);
    if (type == "Sequence") {
        if (!n.contains("normalizers") || !n["normalizers"].is_array())
            return err("normalizer Sequence lacks its list");
        for (const json& child : n["normalizers"]) {
            if (Status s = readNormalizerNode(child, t, err); !s) return s;
        }
        return Status::ok();
    }
    static const std::pair<const char*, NormalizerOp> kOps[] = {
        {"NFC", NormalizerOp::NFC},
        {"NFD", NormalizerOp::NFD},
        {"NFKC", NormalizerOp::NFKC},
        {"NFKD", NormalizerOp::NFKD},
        {"Lowercase", NormalizerOp::Lowercase}};
    for (const auto& [name, op] : kOps) {
        if (type == name) {
            t.normalizers.push_back(op);
            return Status::ok();
        }
    }
    return err("normalizer \"" + type + "\" is not supported");
}

Status readPreNode(const json& n, TokenizerImpl& t, bool* byteLevel, const TkError& err) {
    const std::string type = typeOf(n);
    if (type == "ByteLevel") {
        *byteLevel = true;
        t.addPrefixSpace = n.value("add_prefix_space", true);
        if (n.value("use_regex", true)) {
            if (t.split != SplitPattern::None)
                return err("ByteLevel use_regex after a Split is not supported");
            t.split = SplitPattern::Gpt2;
        }
        return Status::ok();
    }
    if (type == "Split") {
        const json pattern = n.value("pattern", json::object());
        const std::string regex = pattern.value("Regex", "");
        if (n.value("behavior", "") != "Isolated" || n.value("invert", false) ||
            t.split != SplitPattern::None) {
            return err(
                "pre-tokenizer Split other than one Isolated, non-inverted split is not supported");
        }
        if (regex == kGpt2Regex) {
            t.split = SplitPattern::Gpt2;
        } else if (regex == kLlama3Regex) {
            t.split = SplitPattern::Llama3;
        } else {
            return err("pre-tokenizer Split pattern " + pattern.dump() +
                       " is not supported (only the GPT-2 and Llama-3 regexes)");
        }
        return Status::ok();
    }
    if (type == "Sequence" && n.contains("pretokenizers") && n["pretokenizers"].is_array()) {
        for (const json& child : n["pretokenizers"]) {
            if (Status s = readPreNode(child, t, byteLevel, err); !s) return s;
        }
        return Status::ok();
    }
    return err("pre-tokenizer \"" + type + "\" is not supported");
}

Status readTemplate(const json& p, TokenizerImpl& t, const TkError& err) {
    const json single = p.value("single", json::array());
    const json specials = p.value("special_tokens", json::object());
    bool seenText = false;
    for (const json& item : single) {
        if (item.contains("Sequence")) {
            seenText = true;
            continue;
        }
        const std::string id =
            item.contains("SpecialToken") ? item["SpecialToken"].value("id", "") : "";
        if (id.empty() || !specials.contains(id) || !specials[id].contains("ids")) {
            return err("post_processor template item " + item.dump() + " is not understood");
        }
        for (const json& v : specials[id]["ids"]) {
            if (!v.is_number_integer() || v.get<int64_t>() < 0 ||
                v.get<int64_t>() >= int64_t(t.idToToken.size())) {
                return err("post_processor special token \"" + id +
                           "\" has an id outside the vocabulary");
            }
            (seenText ? t.suffixIds : t.prefixIds).push_back(int32_t(v.get<int64_t>()));
        }
    }
    return Status::ok();
}

Status readPostNode(const json& n, TokenizerImpl& t, const TkError& err) {
    const std::string type = typeOf(n);
    if (type == "ByteLevel") return Status::ok();  // offsets only
    if (type == "TemplateProcessing") return readTemplate(n, t, err);
    if (type == "Sequence" && n.contains("processors") && n["processors"].is_array()) {
        for (const json& child : n["processors"]) {
            if (Status s = readPostNode(child, t, err); !s) return s;
        }
        return Status::ok();
    }
    return err("post_processor \"" + type + "\" is not supported");
}

}  // namespace

Status readAddedTokens(const json& root, TokenizerImpl& t, const TkError& err) {
    if (!root.contains("added_tokens") || root["added_tokens"].is_null()) return Status::ok();
    const json& list = root["added_tokens"];
    if (!list.is_array()) return err("added_tokens is not an array");
    for (const json& a : list) {
        if (!a.is_object() || !a.contains("id") || !a["id"].is_number_integer() ||
            !a.contains("content") || !a["content"].is_string() ||
            a["content"].get_ref<const std::string&>().empty()) {
            return err("added token " + a.dump().substr(0, 80) +
                       " lacks an integer id or a content");
        }
        AddedToken tok;
        tok.id = int32_t(std::clamp<int64_t>(a["id"].get<int64_t>(), -1, int64_t(1) << 24));
        tok.content = a["content"].get<std::string>();
        tok.special = a.value("special", false);
        tok.normalized = a.value("normalized", !tok.special);
        tok.lstrip = a.value("lstrip", false);
        tok.rstrip = a.value("rstrip", false);
        tok.singleWord = a.value("single_word", false);
        if (tok.id < 0 || tok.id >= (1 << 24))
            return err("added token \"" + tok.content + "\" has an id outside [0, 2^24)");
        auto inVocab = t.vocab.find(tok.content);
        if (inVocab != t.vocab.end() && inVocab->second != tok.id) {
            return err("added token \"" + tok.content + "\" has id " + std::to_string(tok.id) +
                       " but the vocab gives it " + std::to_string(inVocab->second));
        }
        if (!t.addedByContent.emplace(tok.content, tok.id).second) {
            return err("added token \"" + tok.content + "\" is listed twice");
        }
        t.added.push_back(std::move(tok));
    }
    return Status::ok();
}

Status buildIdTable(TokenizerImpl& t, const TkError& err) {
    int64_t maxId = -1;
    for (const auto& [token, id] : t.vocab) maxId = std::max<int64_t>(maxId, id);
    for (const AddedToken& a : t.added) maxId = std::max<int64_t>(maxId, a.id);
    // Ids must be dense, so the table can be no larger than the number of tokens given.
    if (maxId >= int64_t(t.vocab.size() + t.added.size())) {
        return err("token id " + std::to_string(maxId) +
                   " leaves ids unused (ids must run from 0 without gaps)");
    }
    t.idToToken.assign(size_t(maxId + 1), std::string());
    t.idIsSpecial.assign(size_t(maxId + 1), 0);
    t.idIsAdded.assign(size_t(maxId + 1), 0);
    std::vector<uint8_t> used(size_t(maxId + 1), 0);
    for (const auto& [token, id] : t.vocab) {
        if (used[size_t(id)]++)
            return err("token id " + std::to_string(id) + " is given to two tokens");
        t.idToToken[size_t(id)] = token;
    }
    for (const AddedToken& a : t.added) {
        if (used[size_t(a.id)] && t.idToToken[size_t(a.id)] != a.content) {
            return err("token id " + std::to_string(a.id) + " is given to two tokens");
        }
        used[size_t(a.id)] = 1;
        t.idToToken[size_t(a.id)] = a.content;
        t.idIsSpecial[size_t(a.id)] = a.special;
        t.idIsAdded[size_t(a.id)] = 1;
    }
    for (size_t id = 0; id < used.size(); ++id) {
        if (!used[id]) return err("no token has id " + std::to_string(id));
    }
    t.idBytes.reserve(t.idToToken.size());
    for (const std::string& token : t.idToToken) t.idBytes.push_back(byteLevelDecode(token));
    for (int b = 0; b < 256; ++b) {
        auto it = t.vocab.find(byteLevelString(std::string(1, char(b))));
        if (it == t.vocab.end()) return err("the byte-level vocab lacks byte " + std::to_string(b));
        t.byteToken[size_t(b)] = it->second;
    }
    for (uint32_t i = 0; i < t.added.size(); ++i)
        t.addedByFirstByte[uint8_t(t.added[i].content[0])].push_back(i);
    for (auto& list : t.addedByFirstByte) {
        std::stable_sort(list.begin(), list.end(), [&](uint32_t a, uint32_t b) {
            return t.added[a].content.size() > t.added[b].content.size();
        });
    }
    return Status::ok();
}

Status readNormalizer(const json& root, TokenizerImpl& t, const TkError& err) {
    if (!root.contains("normalizer") || root["normalizer"].is_null()) return Status::ok();
    return readNormalizerNode(root["normalizer"], t, err);
}

Status readPreTokenizer(const json& root, TokenizerImpl& t, const TkError& err) {
    if (!root.contains("pre_tokenizer") || root["pre_tokenizer"].is_null()) {
        return err("no pre_tokenizer: only byte-level BPE tokenizers are supported");
    }
    bool byteLevel = false;
    if (Status s = readPreNode(root["pre_tokenizer"], t, &byteLevel, err); !s) return s;
    return byteLevel ? Status::ok()
                     : err("pre_tokenizer has no ByteLevel step: only byte-level BPE is supported");
}

Status readDecoder(const json& root, const TkError& err) {
    const json d = root.value("decoder", json());
    if (typeOf(d) == "ByteLevel") return Status::ok();
    if (typeOf(d) == "Sequence" && d.contains("decoders") && d["decoders"].is_array() &&
        d["decoders"].size() == 1 && typeOf(d["decoders"][0]) == "ByteLevel") {
        return Status::ok();
    }
    return err("decoder \"" + typeOf(d) + "\" is not supported (only ByteLevel)");
}

Status readPostProcessor(const json& root, TokenizerImpl& t, const TkError& err) {
    if (!root.contains("post_processor") || root["post_processor"].is_null()) return Status::ok();
    return readPostNode(root["post_processor"], t, err);
}

}  // namespace lectern::io
