// prompt.json (app/services/prompt_format.h) and the question checks.
#include "prompt_format.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "io/json_strict.h"
#include "io/utf8.h"

namespace lectern::services {
namespace {

constexpr std::string_view kSlot = "{question}";
constexpr size_t kMaxPromptFileBytes = 1 << 20;

std::string replaceAll(std::string_view in, std::string_view what, std::string_view with) {
    std::string out;
    size_t from = 0;
    for (size_t at; (at = in.find(what, from)) != std::string_view::npos; from = at + what.size())
        out.append(in.substr(from, at - from)).append(with);
    out.append(in.substr(from));
    return out;
}

Status readString(const nlohmann::json& j, const char* key, std::string& out) {
    if (!j.contains(key)) return Status::ok();
    if (!j[key].is_string()) return Status::error(std::string("\"") + key + "\" must be a string");
    out = j[key].get<std::string>();
    return Status::ok();
}

Status readStops(const nlohmann::json& j, std::vector<std::string>& out) {
    if (!j.contains("stop")) return Status::ok();
    const auto& s = j["stop"];
    if (!s.is_array()) return Status::error("\"stop\" must be an array of strings");
    out.clear();
    for (const auto& e : s) {
        if (!e.is_string() || e.get<std::string>().empty())
            return Status::error("\"stop\" must hold non-empty strings");
        out.push_back(e.get<std::string>());
    }
    return Status::ok();
}

}  // namespace

std::string PromptFormat::renderQuestion(std::string_view questionText) const {
    return replaceAll(question, kSlot, questionText);
}

std::string PromptFormat::render(std::string_view questionText) const {
    return documentEnd + renderQuestion(questionText);
}

Expected<PromptFormat> promptFormatParse(std::string_view text, const std::string& source) {
    auto parsed = io::jsonParseStrict(text.data(), text.data() + text.size());
    if (parsed.error != io::JsonError::None) return Status::error(source + ": " + parsed.message);
    const nlohmann::json& j = parsed.value;
    if (!j.is_object()) return Status::error(source + ": expected a JSON object");
    PromptFormat f;
    for (Status s : {readString(j, "document_end", f.documentEnd),
                     readString(j, "question", f.question), readStops(j, f.stop)})
        if (!s) return s.withContext(source);
    if (f.question.find(kSlot) == std::string::npos)
        return Status::error(source + ": \"question\" must contain {question}");
    return f;
}

Expected<PromptFormat> promptFormatLoad(const std::string& modelDir) {
    namespace fs = std::filesystem;
    const fs::path dir =
        fs::is_directory(modelDir) ? fs::path(modelDir) : fs::path(modelDir).parent_path();
    const fs::path file = dir / "prompt.json";
    std::error_code ec;
    if (!fs::exists(file, ec)) return PromptFormat{};
    const auto size = fs::file_size(file, ec);
    if (ec) return Status::error(file.string() + ": " + ec.message());
    if (size > kMaxPromptFileBytes)
        return Status::error(file.string() + ": " + std::to_string(size) +
                             " bytes; a prompt format is at most 1 MiB");
    std::ifstream in(file, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    if (!in) return Status::error(file.string() + ": cannot be read");
    return promptFormatParse(text.str(), file.string());
}

Status questionCheck(std::string_view q) {
    if (q.find_first_not_of(" \t\r\n\f\v") == std::string_view::npos)
        return Status::error("the question is empty");
    if (q.size() > kMaxQuestionBytes)
        return Status::error("the question is " + std::to_string(q.size()) +
                             " bytes long; the limit is " + std::to_string(kMaxQuestionBytes) +
                             " bytes (search or ingest longer text instead)");
    const auto* s = reinterpret_cast<const unsigned char*>(q.data());
    for (size_t i = 0; i < q.size();) {
        char32_t cp;
        const int len = io::utf8Decode(s, i, q.size(), &cp);
        if (len == 0)
            return Status::error("the question is not valid UTF-8 (bad byte at offset " +
                                 std::to_string(i) + ")");
        i += size_t(len);
    }
    return Status::ok();
}

}  // namespace lectern::services
