// Poppler text extraction for one document (see pdf_worker_extract.h). Password handling
// follows Okular: the password is tried as UTF-8 and then as Latin-1, because PDFs before
// AES-256 store passwords in PDFDocEncoding while newer ones use UTF-8.
#include "ingest/extractors/pdf_worker_extract.h"

#include <Error.h>
#include <ErrorCodes.h>
#include <GlobalParams.h>
#include <PDFDoc.h>
#include <Stream.h>
#include <TextOutputDev.h>
#include <UTF.h>
#include <fcntl.h>
#include <goo/GooString.h>
#include <goo/gmem.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <QString>
#include <algorithm>
#include <memory>
#include <optional>

#include "ingest/extractors/pdf_worker_ocr.h"

namespace lectern::ingest {
namespace {

using pdfproto::WorkerResult;
using Opener = std::function<std::unique_ptr<PDFDoc>(const std::optional<GooString>& password)>;

constexpr off_t kMapLimit = off_t(256) << 20;  // larger files are read through Poppler's FileStream

WorkerResult finish(ExtractStatus status, std::string message) {
    WorkerResult r;
    r.status = status;
    r.message = std::move(message);
    return r;
}

struct Opened {
    ExtractStatus status = ExtractStatus::Error;
    std::unique_ptr<PDFDoc> doc;
};

Opened openDocument(const Opener& opener, const std::string& password) {
    Opened out;
    out.doc = opener(std::nullopt);
    if (out.doc->isOk()) return {ExtractStatus::Ok, std::move(out.doc)};
    if (out.doc->getErrorCode() != errEncrypted) return {ExtractStatus::Error, nullptr};
    if (password.empty()) return {ExtractStatus::NeedsPassword, nullptr};
    out.doc = opener(GooString(password));  // as owner and as user password
    if (out.doc->isOk()) return {ExtractStatus::Ok, std::move(out.doc)};
    const QString decoded = QString::fromUtf8(password.data(), qsizetype(password.size()));
    const bool fitsLatin1 =
        std::all_of(decoded.begin(), decoded.end(), [](QChar c) { return c.unicode() < 256; });
    const QByteArray latin1 = decoded.toLatin1();
    if (fitsLatin1 && latin1.toStdString() != password) {
        out.doc = opener(GooString(latin1.toStdString()));
        if (out.doc->isOk()) return {ExtractStatus::Ok, std::move(out.doc)};
    }
    return {ExtractStatus::WrongPassword, nullptr};
}

// A PDF text string (UTF-16BE with a byte-order mark, or PDFDocEncoding) as UTF-8 NFC.
std::string textString(const GooString* s) {
    if (!s) return {};
    Unicode* ucs4 = nullptr;
    const int n = TextStringToUCS4(s->toStr(), &ucs4);
    const QString q = QString::fromUcs4(reinterpret_cast<const char32_t*>(ucs4), n);
    gfree(ucs4);
    return q.normalized(QString::NormalizationForm_C).simplified().toStdString();
}

DocumentMeta readMeta(PDFDoc& doc) {
    DocumentMeta meta;
    meta.mimeType = "application/pdf";
    meta.title = textString(doc.getDocInfoStringEntry("Title").get());
    meta.author = textString(doc.getDocInfoStringEntry("Author").get());
    meta.pageCount = doc.getNumPages();
    const std::pair<const char*, const char*> extras[] = {
        {"producer", "Producer"}, {"creator", "Creator"}, {"subject", "Subject"}};
    for (const auto& [key, infoKey] : extras) {
        std::string value = textString(doc.getDocInfoStringEntry(infoKey).get());
        if (!value.empty()) meta.extra[key] = std::move(value);
    }
    if (doc.isEncrypted()) meta.extra["encrypted"] = "yes";
    return meta;
}

// Poppler's UTF-8 output as valid UTF-8 NFC, without NULs and surrounding blank lines.
std::string cleanText(const std::string& raw) {
    QString t = QString::fromUtf8(raw.data(), qsizetype(raw.size()));
    t = t.normalized(QString::NormalizationForm_C);
    t.remove(QChar(0));
    t.remove(QChar('\f'));
    return t.trimmed().toStdString();
}

struct PageText {
    std::string text;
    size_t limit = 0;
    bool truncated = false;
    static void append(void* self, const char* text, int len) {
        auto* p = static_cast<PageText*>(self);
        if (len <= 0) return;
        if (p->text.size() + size_t(len) > p->limit) {
            p->truncated = true;
            len = int(p->limit - std::min(p->limit, p->text.size()));
        }
        p->text.append(text, size_t(len));
    }
};

struct Tally {
    int missing = 0, ocrFailures = 0, truncated = 0;
    std::string firstOcrError;
};

WorkerResult summarise(const Tally& tally, int pages, int visited, int64_t segments,
                       const std::string& name) {
    std::string warnings;
    auto warn = [&](const std::string& w) { warnings += (warnings.empty() ? "" : "; ") + w; };
    const int unread = tally.missing + (pages - visited);
    if (unread > 0)
        warn(std::to_string(unread) + " of " + std::to_string(pages) + " pages unreadable");
    if (tally.ocrFailures > 0) {
        warn(std::to_string(tally.ocrFailures) + " scanned pages without text (" +
             tally.firstOcrError + ")");
    }
    if (tally.truncated > 0) warn(std::to_string(tally.truncated) + " pages cut to the size limit");
    if (warnings.empty()) return finish(ExtractStatus::Ok, "");
    if (segments == 0 && unread > 0) {
        return finish(ExtractStatus::Error, name + ": no readable pages (" + warnings + ")");
    }
    return finish(ExtractStatus::Partial, name + ": " + warnings);
}

WorkerResult extractPages(PDFDoc& doc, const std::string& name, const PdfExtractOptions& options,
                          const PdfCallbacks& callbacks) {
    const int pages =
        options.maxPages > 0 ? std::min(doc.getNumPages(), options.maxPages) : doc.getNumPages();
    PageText page{std::string(), options.maxPageTextBytes, false};
    // One text device and one XRef for the whole document, as pdftotext does.
    TextOutputDev device(&PageText::append, &page, false, 0, false, false);
    if (!device.isOk()) return finish(ExtractStatus::Error, name + ": Poppler text output failed");
    device.setTextPageBreaks(false);
    Tally tally;
    int missingRun = 0, visited = 0;
    int64_t segments = 0;
    for (int p = 1; p <= pages; ++p) {
        visited = p;
        if (callbacks.pageStarted) callbacks.pageStarted(p);
        if (!doc.getPage(p)) {
            ++tally.missing;
            if (++missingRun >= options.maxConsecutiveMissingPages) break;
            continue;
        }
        missingRun = 0;
        page.text.clear();
        page.truncated = false;
        doc.displayPage(&device, p, 72, 72, 0, false, true, false);
        Segment seg;
        seg.kind = SegmentKind::Page;
        seg.ordinal = p;
        seg.label = "page " + std::to_string(p);
        seg.text = cleanText(page.text);
        tally.truncated += page.truncated ? 1 : 0;
        if (seg.text.empty() && options.ocr) {
            auto ocrText = options.ocr->recognise(doc, p);
            if (ocrText) {
                seg.text = cleanText(*ocrText);
                seg.ocr = true;
            } else if (tally.ocrFailures++ == 0) {
                tally.firstOcrError = ocrText.error();
            }
        }
        if (seg.text.empty()) continue;
        if (!callbacks.segment(std::move(seg))) {
            return finish(ExtractStatus::Partial,
                          "extraction cancelled at page " + std::to_string(p) + " of " + name);
        }
        ++segments;
    }
    return summarise(tally, pages, visited, segments, name);
}

WorkerResult extractOpened(const Opener& opener, const std::string& name,
                           const PdfExtractOptions& options, const PdfCallbacks& callbacks) {
    Opened opened = openDocument(opener, options.password);
    switch (opened.status) {
        case ExtractStatus::Ok:
            break;
        case ExtractStatus::NeedsPassword:
            return finish(ExtractStatus::NeedsPassword,
                          name + ": encrypted PDF, a password is needed");
        case ExtractStatus::WrongPassword:
            return finish(ExtractStatus::WrongPassword,
                          name + ": encrypted PDF, the password given does not open it");
        default:
            return finish(ExtractStatus::Error,
                          name + ": not a readable PDF (Poppler cannot open it)");
    }
    if (callbacks.meta) callbacks.meta(readMeta(*opened.doc));
    if (opened.doc->getNumPages() <= 0)
        return finish(ExtractStatus::Error, name + ": the PDF has no pages");
    return extractPages(*opened.doc, name, options, callbacks);
}

}  // namespace

void pdfInitPoppler() {
    if (!globalParams) globalParams = std::make_unique<GlobalParams>();
    globalParams->setTextEncoding("UTF-8");
    setErrorCallback([](ErrorCategory, Goffset, const char*) {});
}

WorkerResult extractPdfData(const char* data, size_t size, const std::string& name,
                            const PdfExtractOptions& options, const PdfCallbacks& callbacks) {
    const Opener opener = [data, size](const std::optional<GooString>& pw) {
        return std::make_unique<PDFDoc>(new MemStream(data, 0, Goffset(size), Object(objNull)), pw,
                                        pw);
    };
    return extractOpened(opener, name, options, callbacks);
}

WorkerResult extractPdfFile(const std::string& path, const PdfExtractOptions& options,
                            const PdfCallbacks& callbacks) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    struct stat st {};
    if (fd < 0 || fstat(fd, &st) != 0) {
        if (fd >= 0) ::close(fd);
        return finish(ExtractStatus::Error, path + ": cannot open");
    }
    // Mapping spares Poppler a pread() per 256-byte buffer refill.
    void* map = st.st_size > 0 && st.st_size <= kMapLimit
                    ? mmap(nullptr, size_t(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0)
                    : MAP_FAILED;
    ::close(fd);
    if (map != MAP_FAILED) {
        WorkerResult r = extractPdfData(static_cast<const char*>(map), size_t(st.st_size), path,
                                        options, callbacks);
        munmap(map, size_t(st.st_size));
        return r;
    }
    const Opener opener = [&path](const std::optional<GooString>& pw) {
        return std::make_unique<PDFDoc>(std::make_unique<GooString>(path), pw, pw);
    };
    return extractOpened(opener, path, options, callbacks);
}

}  // namespace lectern::ingest
