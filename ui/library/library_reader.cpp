// Each function opens its own Store: the GUI thread never holds a connection, and a
// worker's connection lives only as long as its query.
#include "library/library_reader.h"

#include <filesystem>

namespace lectern::ui {
namespace {

Expected<std::unique_ptr<store::Store>> openStore(const QString& storeDir) {
    if (storeDir.isEmpty()) return Status::error("no store folder is set (Settings)");
    return store::Store::open(std::filesystem::path(storeDir.toStdString()));
}

}  // namespace

Expected<QStringList> readCollections(const QString& storeDir) {
    auto st = openStore(storeDir);
    if (!st) return st.status();
    auto names = (*st)->collectionNames();
    if (!names) return names.status();
    QStringList out;
    for (const std::string& n : *names) out << QString::fromStdString(n);
    return out;
}

Expected<std::vector<store::DocumentInfo>> readDocuments(const QString& storeDir,
                                                         const QString& collection) {
    auto st = openStore(storeDir);
    if (!st) return st.status();
    return (*st)->listDocuments(collection.toStdString());
}

Expected<store::DocumentInfo> readDocument(const QString& storeDir, int64_t documentId) {
    auto st = openStore(storeDir);
    if (!st) return st.status();
    return (*st)->documentById(documentId);
}

Expected<std::vector<ingest::Segment>> readSegments(const QString& storeDir, int64_t documentId) {
    auto st = openStore(storeDir);
    if (!st) return st.status();
    return (*st)->documentSegments(documentId);
}

Expected<std::vector<store::SearchHit>> searchStore(const QString& storeDir,
                                                    const QString& collection, const QString& query,
                                                    int limit) {
    auto st = openStore(storeDir);
    if (!st) return st.status();
    store::SearchRequest request;
    request.collection = collection.toStdString();
    request.query = query.toStdString();
    request.limit = limit;
    request.markOpen = "\x01";  // markers that cannot occur in text; the view turns them bold
    request.markClose = "\x02";
    return (*st)->search(request);
}

Status removeDocuments(const QString& storeDir, const std::vector<int64_t>& documentIds) {
    auto st = openStore(storeDir);
    if (!st) return st.status();
    store::Store& s = **st;
    if (Status b = s.begin(); !b) return b;
    for (int64_t id : documentIds) {
        if (Status m = s.markRemoved(id); !m) {
            s.rollback();
            return m;
        }
    }
    return s.commit();
}

QString describeStatus(const store::DocumentInfo& doc) {
    const QString error = QString::fromStdString(doc.error);
    const std::string& s = doc.status;
    QString words;
    if (s == store::kStatusOk) return QStringLiteral("ok");
    if (s == store::kStatusPartial)
        words = QStringLiteral("partly read");
    else if (s == "needs-password")
        words = QStringLiteral("needs a password");
    else if (s == "wrong-password")
        words = QStringLiteral("wrong password");
    else if (s == "skipped: binary")
        words = QStringLiteral("skipped: binary file");
    else if (s == "vanished")
        words = QStringLiteral("file disappeared while reading");
    else if (s == "timeout")
        words = QStringLiteral("took too long to read");
    else if (s == "memory-limit")
        words = QStringLiteral("too large to read in memory");
    else if (s == "crashed")
        words = QStringLiteral("the reader crashed on this file");
    else
        words = QStringLiteral("failed");
    return error.isEmpty() ? words : words + QStringLiteral(": ") + error;
}

}  // namespace lectern::ui
