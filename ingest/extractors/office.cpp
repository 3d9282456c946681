// OfficeExtractor (see office.h): the zip container, its limits, and paragraphs to Section
// segments. A zip bomb is stopped twice: by the uncompressed size an entry declares, and by
// counting the bytes actually inflated, since the declared size can lie.
#include "ingest/extractors/office.h"

#include <zip.h>

#include <cctype>

#include "ingest/extractors/office_xml.h"
#include "ingest/extractors/text_stream.h"
#include "lectern/status.h"

namespace lectern::ingest {
namespace {

constexpr uint64_t kMaxEntryBytes = 64u << 20;   // one XML part, uncompressed
constexpr size_t kMaxSectionBytes = 256u << 10;  // longer sections are split at paragraphs

enum class Format { Docx, Odt };

struct ZipCloser {
    void operator()(zip_t* z) const { zip_discard(z); }
};
using ZipPtr = std::unique_ptr<zip_t, ZipCloser>;

// Reads one entry whole, within kMaxEntryBytes; `found` is false when it does not exist.
Expected<std::string> readEntry(zip_t* zip, const char* name, bool& found) {
    zip_stat_t st;
    zip_stat_init(&st);
    found = zip_stat(zip, name, 0, &st) == 0;
    if (!found) return std::string();
    if ((st.valid & ZIP_STAT_SIZE) && st.size > kMaxEntryBytes) {
        return Status::error(std::string(name) + " declares " + std::to_string(st.size) +
                             " bytes uncompressed, over the " +
                             std::to_string(kMaxEntryBytes >> 20) + " MiB limit (zip bomb?)");
    }
    zip_file_t* file = zip_fopen(zip, name, 0);
    if (!file) return Status::error(std::string(name) + ": " + zip_strerror(zip));
    std::string out;
    char chunk[65536];
    for (;;) {
        const zip_int64_t n = zip_fread(file, chunk, sizeof chunk);
        if (n < 0) {
            Status err = Status::error(std::string(name) + ": " + zip_file_strerror(file));
            zip_fclose(file);
            return err;
        }
        if (n == 0) break;
        out.append(chunk, size_t(n));
        if (out.size() > kMaxEntryBytes) {
            zip_fclose(file);
            return Status::error(std::string(name) + " inflates past the " +
                                 std::to_string(kMaxEntryBytes >> 20) + " MiB limit (zip bomb?)");
        }
    }
    zip_fclose(file);
    return out;
}

std::string lowerExtension(const std::filesystem::path& path) {
    std::string ext = path.extension().string();
    for (char& c : ext) c = char(std::tolower(static_cast<unsigned char>(c)));
    return ext;
}

// Groups paragraphs into sections: a heading opens one, labelled with its text.
class SectionWriter {
public:
    SectionWriter(const SegmentSink& sink, std::string firstLabel)
        : sink_(sink), label_(std::move(firstLabel)) {}
    bool add(const office::Paragraph& p) {
        if (p.level > 0 || text_.size() + p.text.size() > kMaxSectionBytes) {
            if (!flush()) return false;
            if (p.level > 0) label_ = p.text.substr(0, utf8CutPoint(p.text, 120));
        }
        ++line_;
        if (text_.empty()) start_ = line_;
        text_ += (text_.empty() ? "" : "\n") + p.text;
        return true;
    }
    bool flush() {
        if (text_.empty()) return true;
        Segment s;
        s.kind = SegmentKind::Section;
        s.ordinal = ++count_;
        s.lineStart = start_;
        s.lineEnd = line_;
        s.label = label_;
        s.text = std::move(text_);
        text_.clear();
        return sink_(std::move(s));
    }
    int64_t count() const { return count_; }

private:
    const SegmentSink& sink_;
    std::string label_, text_;
    int64_t line_ = 0, start_ = 0, count_ = 0;
};

class OfficeExtractor final : public Extractor {
public:
    const char* name() const override { return "office"; }
    bool accepts(const std::filesystem::path& path, const std::string& head) const override {
        const std::string ext = lowerExtension(path);
        return (ext == ".docx" || ext == ".odt") &&
               (head.empty() || head.compare(0, 4, "PK\x03\x04") == 0);
    }
    ExtractResult extract(const ExtractRequest& request, const SegmentSink& sink) override;
};

ExtractResult OfficeExtractor::extract(const ExtractRequest& request, const SegmentSink& sink) {
    ExtractResult result;
    const std::string path = request.path.string();
    const Format format = lowerExtension(request.path) == ".odt" ? Format::Odt : Format::Docx;
    result.meta.mimeType =
        format == Format::Odt
            ? "application/vnd.oasis.opendocument.text"
            : "application/vnd.openxmlformats-officedocument.wordprocessingml.document";
    auto fail = [&](ExtractStatus status, const std::string& why) {
        result.status = status;
        result.message = path + ": " + why;
        return result;
    };
    int zipError = 0;
    ZipPtr zip(zip_open(path.c_str(), ZIP_RDONLY, &zipError));
    if (!zip) {
        zip_error_t err;
        zip_error_init_with_code(&err, zipError);
        std::string why = zip_error_strerror(&err);
        zip_error_fini(&err);
        return fail(zipError == ZIP_ER_NOENT ? ExtractStatus::Vanished : ExtractStatus::Error,
                    "not a readable zip container: " + why);
    }
    const char* mainPart = format == Format::Odt ? "content.xml" : "word/document.xml";
    bool found = false;
    auto main = readEntry(zip.get(), mainPart, found);
    if (!main) return fail(ExtractStatus::Error, main.error());
    if (!found)
        return fail(ExtractStatus::Error, std::string("no ") + mainPart + " in the archive");
    std::map<std::string, int> styles;
    if (format == Format::Docx) {
        auto stylesXml = readEntry(zip.get(), "word/styles.xml", found);
        if (stylesXml && found) styles = office::docxHeadingStyles(*stylesXml);
    }
    auto metaXml =
        readEntry(zip.get(), format == Format::Odt ? "meta.xml" : "docProps/core.xml", found);
    if (metaXml && found) office::parseOfficeMeta(*metaXml, result.meta.title, result.meta.author);

    const auto parsed =
        format == Format::Odt ? office::parseOdt(*main) : office::parseDocx(*main, styles);
    SectionWriter writer(sink, result.meta.title.empty() ? "beginning" : result.meta.title);
    for (const auto& paragraph : parsed.paragraphs) {
        if ((request.cancel && request.cancel->load()) || !writer.add(paragraph)) {
            result.segmentCount = writer.count();
            return fail(ExtractStatus::Partial, "extraction cancelled");
        }
    }
    if (!writer.flush()) return fail(ExtractStatus::Partial, "extraction cancelled");
    result.segmentCount = writer.count();
    if (!parsed.error.empty()) {
        return fail(writer.count() > 0 ? ExtractStatus::Partial : ExtractStatus::Error,
                    parsed.error);
    }
    return result;
}

}  // namespace

std::unique_ptr<Extractor> makeOfficeExtractor() {
    return std::make_unique<OfficeExtractor>();
}

}  // namespace lectern::ingest
