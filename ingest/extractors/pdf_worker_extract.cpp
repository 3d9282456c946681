// Poppler-Qt6 text extraction for one document (see pdf_worker_extract.h). Password handling
// follows Okular: the password is tried as UTF-8 and then as Latin-1, because PDFs before
// AES-256 store passwords in PDFDocEncoding while newer ones use UTF-8.
#include "ingest/extractors/pdf_worker_extract.h"

#include <poppler-qt6.h>

#include <QString>
#include <algorithm>
#include <memory>

#include "ingest/extractors/pdf_worker_ocr.h"

namespace lectern::ingest {
namespace {

using pdfproto::WorkerResult;

WorkerResult fail(ExtractStatus status, std::string message) {
    WorkerResult r;
    r.status = status;
    r.message = std::move(message);
    return r;
}

// Unlocks an encrypted document; returns Ok or NeedsPassword / WrongPassword.
ExtractStatus unlock(Poppler::Document& doc, const std::string& password) {
    if (!doc.isLocked()) return ExtractStatus::Ok;
    if (password.empty()) return ExtractStatus::NeedsPassword;
    const QByteArray utf8 = QByteArray::fromStdString(password);
    // unlock() returns true on failure; owner and user passwords are both tried.
    if (!doc.unlock(utf8, utf8) && !doc.isLocked()) return ExtractStatus::Ok;
    const QString decoded = QString::fromUtf8(utf8);
    const bool fitsLatin1 =
        std::all_of(decoded.begin(), decoded.end(), [](QChar c) { return c.unicode() < 256; });
    const QByteArray latin1 = decoded.toLatin1();
    if (fitsLatin1 && latin1 != utf8) {
        if (!doc.unlock(latin1, latin1) && !doc.isLocked()) return ExtractStatus::Ok;
    }
    return ExtractStatus::WrongPassword;
}

DocumentMeta readMeta(const Poppler::Document& doc) {
    DocumentMeta meta;
    meta.mimeType = "application/pdf";
    meta.title = doc.info(QStringLiteral("Title")).toStdString();
    meta.author = doc.info(QStringLiteral("Author")).toStdString();
    meta.pageCount = doc.numPages();
    const std::pair<const char*, const char*> extras[] = {
        {"producer", "Producer"}, {"creator", "Creator"}, {"subject", "Subject"}};
    for (const auto& [key, infoKey] : extras) {
        const QString value = doc.info(QString::fromLatin1(infoKey));
        if (!value.isEmpty()) meta.extra[key] = value.toStdString();
    }
    if (doc.isEncrypted()) meta.extra["encrypted"] = "yes";
    return meta;
}

// UTF-8 NFC text of a page, without NULs and the form feeds Poppler ends pages with.
std::string cleanText(const QString& text) {
    QString t = text.normalized(QString::NormalizationForm_C);
    t.remove(QChar(0));
    t.remove(QChar('\f'));
    return t.trimmed().toStdString();
}

struct PageTally {
    int missing = 0;      // pages Poppler could not give us
    int ocrFailures = 0;  // scanned pages left without text
    int truncated = 0;
    std::string firstOcrError;
};

WorkerResult extractPages(Poppler::Document& doc, const std::string& name,
                          const PdfExtractOptions& options, const PdfCallbacks& callbacks) {
    const int pages =
        options.maxPages > 0 ? std::min(doc.numPages(), options.maxPages) : doc.numPages();
    PageTally tally;
    int missingRun = 0;
    int64_t segments = 0;
    int lastPage = 0;
    for (int i = 0; i < pages; ++i) {
        lastPage = i + 1;
        if (callbacks.pageStarted) callbacks.pageStarted(i + 1);
        std::unique_ptr<Poppler::Page> page = doc.page(i);
        if (!page) {
            ++tally.missing;
            if (++missingRun >= options.maxConsecutiveMissingPages) break;
            continue;
        }
        missingRun = 0;
        Segment seg;
        seg.kind = SegmentKind::Page;
        seg.ordinal = i + 1;
        seg.label = "page " + std::to_string(i + 1);
        seg.text = cleanText(page->text(QRectF()));
        if (seg.text.empty() && options.ocr) {
            auto ocrText = options.ocr->recognise(*page);
            if (ocrText) {
                seg.text = cleanText(QString::fromStdString(*ocrText));
                seg.ocr = true;
            } else {
                if (tally.ocrFailures++ == 0) tally.firstOcrError = ocrText.error();
            }
        }
        if (seg.text.empty()) continue;
        if (seg.text.size() > options.maxPageTextBytes) {
            size_t cut = options.maxPageTextBytes;
            while (cut > 0 && (uint8_t(seg.text[cut]) & 0xC0) == 0x80) --cut;  // UTF-8 boundary
            seg.text.resize(cut);
            ++tally.truncated;
        }
        if (!callbacks.segment(std::move(seg))) {
            return fail(ExtractStatus::Partial,
                        "extraction cancelled at page " + std::to_string(i + 1) + " of " + name);
        }
        ++segments;
    }
    std::string warnings;
    auto warn = [&](const std::string& w) { warnings += (warnings.empty() ? "" : "; ") + w; };
    if (tally.missing > 0 || lastPage < pages) {
        warn(std::to_string(tally.missing + (pages - lastPage)) + " of " + std::to_string(pages) +
             " pages unreadable");
    }
    if (tally.ocrFailures > 0) {
        warn(std::to_string(tally.ocrFailures) + " scanned pages without text (" +
             tally.firstOcrError + ")");
    }
    if (tally.truncated > 0) warn(std::to_string(tally.truncated) + " pages cut to the size limit");
    if (warnings.empty()) return fail(ExtractStatus::Ok, "");
    if (segments == 0 && tally.missing > 0) {
        return fail(ExtractStatus::Error, name + ": no readable pages (" + warnings + ")");
    }
    return fail(ExtractStatus::Partial, name + ": " + warnings);
}

WorkerResult extractLoaded(std::unique_ptr<Poppler::Document> doc, const std::string& name,
                           const PdfExtractOptions& options, const PdfCallbacks& callbacks) {
    if (!doc)
        return fail(ExtractStatus::Error, name + ": not a readable PDF (Poppler cannot open it)");
    switch (unlock(*doc, options.password)) {
        case ExtractStatus::NeedsPassword:
            return fail(ExtractStatus::NeedsPassword,
                        name + ": encrypted PDF, a password is needed");
        case ExtractStatus::WrongPassword:
            return fail(ExtractStatus::WrongPassword,
                        name + ": encrypted PDF, the password given does not open it");
        default:
            break;
    }
    doc->setRenderHint(Poppler::Document::Antialiasing);
    doc->setRenderHint(Poppler::Document::TextAntialiasing);
    if (callbacks.meta) callbacks.meta(readMeta(*doc));
    if (doc->numPages() <= 0) return fail(ExtractStatus::Error, name + ": the PDF has no pages");
    return extractPages(*doc, name, options, callbacks);
}

}  // namespace

void pdfQuietPoppler() {
    Poppler::setDebugErrorFunction([](const QString&, const QVariant&) {}, QVariant());
}

WorkerResult extractPdfFile(const std::string& path, const PdfExtractOptions& options,
                            const PdfCallbacks& callbacks) {
    return extractLoaded(Poppler::Document::load(QString::fromStdString(path)), path, options,
                         callbacks);
}

WorkerResult extractPdfData(const QByteArray& data, const std::string& name,
                            const PdfExtractOptions& options, const PdfCallbacks& callbacks) {
    return extractLoaded(Poppler::Document::loadFromData(data), name, options, callbacks);
}

}  // namespace lectern::ingest
