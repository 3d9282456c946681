// TextCodec: tokenizer.json or byte-level ids, and each token's decoded byte length.
#include "text_codec.h"

#include <filesystem>

namespace lectern::services {

TextCodec::TextCodec(io::Tokenizer tokenizer) : tokenizer_(std::move(tokenizer)) {
    for (const char* eos : {"<|endoftext|>", "<|end_of_text|>", "</s>"}) {
        if (auto id = tokenizer_->tokenId(eos)) {
            endOfText_ = id;
            break;
        }
    }
    // Byte lengths once, so mapping a long document's tokens to bytes is a table look-up.
    tokenLength_.resize(size_t(tokenizer_->vocabSize()), 0);
    for (int32_t id = 0; id < tokenizer_->vocabSize(); ++id) {
        if (tokenizer_->isSpecial(id)) continue;
        Expected<std::string> bytes = tokenizer_->decode({id});
        if (bytes) tokenLength_[size_t(id)] = int32_t(bytes->size());
    }
}

Expected<TextCodec> TextCodec::forModel(const std::string& modelPath) {
    namespace fs = std::filesystem;
    const fs::path dir =
        fs::is_directory(modelPath) ? fs::path(modelPath) : fs::path(modelPath).parent_path();
    if (!fs::exists(dir / "tokenizer.json")) return TextCodec();
    Expected<io::Tokenizer> tok = io::Tokenizer::load((dir / "tokenizer.json").string());
    if (!tok) return tok.status();
    return TextCodec(std::move(*tok));
}

std::vector<int32_t> TextCodec::encode(std::string_view text, bool parseSpecial) const {
    if (tokenizer_) {
        io::EncodeOptions options;
        options.parseSpecialTokens = parseSpecial;
        return tokenizer_->encode(text, options);
    }
    std::vector<int32_t> ids;
    ids.reserve(text.size());
    for (unsigned char c : text) ids.push_back(int32_t(c));
    return ids;
}

Expected<std::string> TextCodec::decode(const std::vector<int32_t>& ids) const {
    if (tokenizer_) return tokenizer_->decode(ids);
    std::string out;
    out.reserve(ids.size());
    for (int32_t id : ids) {
        if (id < 0 || id > 255)
            return Status::error("token id " + std::to_string(id) + " is not a byte");
        out.push_back(char(id));
    }
    return out;
}

int64_t TextCodec::tokenBytes(int32_t id) const {
    if (!tokenizer_) return id >= 0 && id <= 255 ? 1 : 0;
    return id >= 0 && size_t(id) < tokenLength_.size() ? tokenLength_[size_t(id)] : 0;
}

}  // namespace lectern::services
