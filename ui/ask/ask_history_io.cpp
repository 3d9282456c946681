// Ask history I/O for the panel: see ask_history_io.h.
#include "ask/ask_history_io.h"

#include <filesystem>

namespace lectern::ui {
namespace {

struct Scoped {
    std::unique_ptr<store::Store> store;
    store::AskScope scope;  // collectionId 0: no such collection
};

Expected<Scoped> openScope(const QString& storeDir, const QString& collection, int64_t documentId) {
    if (storeDir.isEmpty()) return Status::error("no store folder is set (Settings)");
    auto st = store::Store::open(std::filesystem::path(storeDir.toStdString()));
    if (!st) return st.status();
    auto id = (*st)->findCollection(collection.toStdString());
    if (!id) return id.status();
    Scoped s;
    s.store = std::move(*st);
    s.scope.collectionId = *id;
    s.scope.documentId = documentId;
    return s;
}

}  // namespace

Expected<std::vector<store::AskRecord>> readAskHistory(const QString& storeDir,
                                                       const QString& collection,
                                                       int64_t documentId) {
    auto s = openScope(storeDir, collection, documentId);
    if (!s) return s.status();
    if (s->scope.collectionId == 0) return std::vector<store::AskRecord>{};
    return store::AskHistory(s->store->database()).list(s->scope);
}

Expected<int64_t> clearAskHistory(const QString& storeDir, const QString& collection,
                                  int64_t documentId) {
    auto s = openScope(storeDir, collection, documentId);
    if (!s) return s.status();
    if (s->scope.collectionId == 0) return int64_t(0);
    return store::AskHistory(s->store->database()).clear(s->scope);
}

store::AskRecord askRecordOf(const services::AskAnswer& a, int64_t asOfPage, double totalSeconds) {
    store::AskRecord r;
    r.asOfPage = asOfPage;
    r.question = a.question;
    r.answer = a.answer;
    r.stopReason = generate::stopReasonName(a.stop);
    r.stateOrigin = services::stateOriginName(a.from);
    r.stateTokens = a.stateTokens;
    r.answerTokens = a.answerTokens;
    r.firstTokenSeconds = a.timings.firstTokenSeconds;
    r.tokensPerSecond = a.timings.tokensPerSecond;
    r.totalSeconds = totalSeconds;
    for (const services::Passage& p : a.passages)
        r.passages.push_back(
            {p.documentId, p.path, p.location, p.page, p.lineStart, p.lineEnd, p.snippet});
    return r;
}

}  // namespace lectern::ui
