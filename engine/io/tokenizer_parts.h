// The sections of tokenizer.json other than the model (private to engine/io): added tokens,
// the id table, normalizer, pre-tokenizer, decoder and post-processor readers.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "io/tokenizer_impl.h"

namespace lectern::io {

struct TkError {
    std::string file;
    Status operator()(const std::string& message) const {
        return Status::error(file + ": " + message);
    }
};

Status readAddedTokens(const nlohmann::json& root, TokenizerImpl& t, const TkError& err);
Status buildIdTable(TokenizerImpl& t, const TkError& err);
Status readNormalizer(const nlohmann::json& root, TokenizerImpl& t, const TkError& err);
Status readPreTokenizer(const nlohmann::json& root, TokenizerImpl& t, const TkError& err);
Status readDecoder(const nlohmann::json& root, const TkError& err);
Status readPostProcessor(const nlohmann::json& root, TokenizerImpl& t, const TkError& err);

}  // namespace lectern::io
