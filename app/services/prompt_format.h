// The model's question-and-answer format, read from prompt.json in the model folder (the
// bundled model is trained on it), and the checks every question passes before it reaches
// the model. After a document the model reads document_end + question (with {question}
// replaced), then its answer is decoded until a stop string, an end-of-text token or a
// token limit.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "lectern/status.h"

namespace lectern::services {

struct PromptFormat {
    std::string documentEnd = "\n\n";
    std::string question = "Question: {question}\nAnswer:";
    std::vector<std::string> stop = {"\n"};

    // document_end + the question template with every {question} replaced.
    std::string render(std::string_view questionText) const;
    // The template alone (a second question on a state that already holds the separator).
    std::string renderQuestion(std::string_view questionText) const;
};

// Parses prompt.json text; `source` names the file in errors. Missing keys keep the
// defaults, unknown keys are ignored (a newer format may add some); wrong types, a
// question template without {question}, or an empty stop string are errors.
Expected<PromptFormat> promptFormatParse(std::string_view text, const std::string& source);
// MODEL_DIR/prompt.json, or the defaults when the file is absent.
Expected<PromptFormat> promptFormatLoad(const std::string& modelDir);

// Questions are at most this long: longer is a document, not a question.
inline constexpr size_t kMaxQuestionBytes = 64 * 1024;
// Empty or blank, longer than kMaxQuestionBytes, or not valid UTF-8: an error saying which.
Status questionCheck(std::string_view question);

}  // namespace lectern::services
