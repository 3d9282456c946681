// The review table and its CSV (app/services/review_service.h).
#include "review_service.h"

#include <cstdio>
#include <filesystem>
#include <fstream>

namespace lectern::services {
namespace {

std::string csvCell(const std::string& raw) {
    std::string v = raw;
    if (!v.empty() &&
        (v[0] == '=' || v[0] == '+' || v[0] == '-' || v[0] == '@' || v[0] == '\t' || v[0] == '\r'))
        v.insert(v.begin(), '\'');
    std::string out = "\"";
    for (char c : v) {
        if (c == '"') out += '"';
        out += c;
    }
    return out + "\"";
}

std::string passagesCell(const std::vector<Passage>& passages) {
    std::string out;
    for (const Passage& p : passages) {
        if (!out.empty()) out += "\n";
        out += p.path + (p.location.empty() ? "" : " (" + p.location + ")") + ": " + p.snippet;
    }
    return out;
}

}  // namespace

Expected<ReviewTable> reviewRun(
    AskService& ask, store::Store& store, const ReviewRequest& request, const AskOptions& options,
    const std::function<void(size_t, size_t, const std::string&)>& onDocument) {
    if (request.questions.empty()) return Status::error("no question to ask");
    for (size_t i = 0; i < request.questions.size(); ++i)
        if (Status s = questionCheck(request.questions[i]); !s)
            return s.withContext("question " + std::to_string(i + 1));
    auto docs = store.listDocuments(request.collection);
    if (!docs) return docs.status();
    ReviewTable table;
    table.collection = request.collection;
    table.questions = request.questions;
    for (size_t i = 0; i < docs->size(); ++i) {
        const store::DocumentInfo& d = (*docs)[i];
        if (options.cancel && options.cancel->load()) break;
        if (onDocument) onDocument(i, docs->size(), d.path);
        ReviewRow row;
        row.documentId = d.id;
        row.path = d.path;
        if (d.contentId == 0) {
            row.error = "no text (" + d.status + (d.error.empty() ? "" : ": " + d.error) + ")";
            table.rows.push_back(std::move(row));
            continue;
        }
        AskRequest r;
        r.key = StateKey::document(d.id);
        r.collection = request.collection;
        r.documentId = d.id;
        r.questions = request.questions;
        auto answers = ask.ask(r, options);
        if (answers)
            row.answers = std::move(*answers);
        else
            row.error = answers.error();
        table.rows.push_back(std::move(row));
    }
    return table;
}

std::string reviewCsv(const ReviewTable& t) {
    std::string out = "document_id,path";
    for (size_t q = 0; q < t.questions.size(); ++q) {
        const std::string n = "Q" + std::to_string(q + 1);
        out += "," + csvCell(n + " answer: " + t.questions[q]) + "," + csvCell(n + " passages");
    }
    out += ",error\r\n";
    for (const ReviewRow& r : t.rows) {
        out += std::to_string(r.documentId) + "," + csvCell(r.path);
        for (size_t q = 0; q < t.questions.size(); ++q) {
            const AskAnswer* a = q < r.answers.size() ? &r.answers[q] : nullptr;
            out += "," + csvCell(a ? a->answer : "") + "," +
                   csvCell(a ? passagesCell(a->passages) : "");
        }
        out += "," + csvCell(r.error) + "\r\n";
    }
    return out;
}

Status reviewCsvWrite(const ReviewTable& table, const std::string& path) {
    namespace fs = std::filesystem;
    const std::string tmp = path + ".tmp";
    const std::string csv = reviewCsv(table);
    {
        std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
        if (!f) return Status::error("cannot write " + path + ": cannot create " + tmp);
        f.write(csv.data(), std::streamsize(csv.size()));
        f.flush();
        if (!f) {
            std::error_code ec;
            fs::remove(tmp, ec);
            return Status::error("cannot write " + path + " (disk full?)");
        }
    }
    std::error_code ec;
    fs::rename(tmp, path, ec);
    if (ec) {
        fs::remove(tmp, ec);
        return Status::error("cannot write " + path + ": " + ec.message());
    }
    return Status::ok();
}

}  // namespace lectern::services
