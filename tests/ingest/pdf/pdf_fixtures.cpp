// Builders for the test PDFs (see pdf_fixtures.h). The writer emits classic PDF 1.4 objects and
// a correct xref table, so the files are valid for pdftotext and qpdf as well as for us.
#include "pdf_fixtures.h"

#include <poppler-qt6.h>
#include <unistd.h>
#include <zlib.h>

#include <QImage>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

// Fontconfig (reached through Poppler-Qt6 when the fixtures render scanned pages) keeps a cache
// for the life of the process; LeakSanitizer would report it at exit in sanitizer builds.
extern "C" const char* __lsan_default_suppressions() {
    return "leak:libfontconfig.so\n";
}

namespace lectern::testing {
namespace {

class PdfBuilder {
public:
    int reserve() {
        objects_.emplace_back();
        return int(objects_.size());
    }
    int add(std::string body) {
        objects_.push_back(std::move(body));
        return int(objects_.size());
    }
    void set(int number, std::string body) { objects_[size_t(number - 1)] = std::move(body); }
    static std::string stream(const std::string& dict, const std::string& data) {
        return "<< " + dict + " /Length " + std::to_string(data.size()) + " >>\nstream\n" + data +
               "\nendstream";
    }
    std::string finish(int root, int info) const {
        std::string out = "%PDF-1.4\n%\xe2\xe3\xcf\xd3\n";
        std::vector<size_t> offsets;
        for (size_t i = 0; i < objects_.size(); ++i) {
            offsets.push_back(out.size());
            out += std::to_string(i + 1) + " 0 obj\n" + objects_[i] + "\nendobj\n";
        }
        const size_t xref = out.size();
        out += "xref\n0 " + std::to_string(objects_.size() + 1) + "\n0000000000 65535 f \n";
        char line[32];
        for (size_t off : offsets) {
            std::snprintf(line, sizeof line, "%010zu 00000 n \n", off);
            out += line;
        }
        out += "trailer\n<< /Size " + std::to_string(objects_.size() + 1) + " /Root " +
               std::to_string(root) + " 0 R";
        if (info > 0) out += " /Info " + std::to_string(info) + " 0 R";
        out += " >>\nstartxref\n" + std::to_string(xref) + "\n%%EOF\n";
        return out;
    }

private:
    std::vector<std::string> objects_;
};

// A PDF string literal: parentheses and backslashes escaped, bytes above 127 as octal.
std::string pdfString(const std::string& s) {
    std::string out = "(";
    for (unsigned char c : s) {
        if (c == '(' || c == ')' || c == '\\') {
            out += '\\';
            out += char(c);
        } else if (c < 32 || c > 126) {
            char esc[8];
            std::snprintf(esc, sizeof esc, "\\%03o", c);
            out += esc;
        } else {
            out += char(c);
        }
    }
    return out + ")";
}

std::string textContent(const std::string& text, int fontSize) {
    std::ostringstream c;
    c << "BT /F1 " << fontSize << " Tf " << fontSize * 1.3 << " TL 72 720 Td\n";
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) c << pdfString(line) << " Tj T*\n";
    c << "ET";
    return c.str();
}

// Builds a document whose pages share one font and one page size; `pageBody` gives each
// page's content stream and extra resources.
struct PageSpec {
    std::string content;
    std::string resources;  // added inside the page's /Resources dictionary
};

std::string buildPdf(PdfBuilder& b, const std::vector<PageSpec>& pages, const PdfInfo& info,
                     const std::string& pagesExtra = {}) {
    const int catalog = b.reserve();
    const int pagesObj = b.reserve();
    const int font =
        b.add("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>");
    std::string kids;
    for (const auto& page : pages) {
        const int content = b.add(PdfBuilder::stream("", page.content));
        const int pageObj = b.reserve();
        b.set(pageObj, "<< /Type /Page /Parent " + std::to_string(pagesObj) +
                           " 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 " +
                           std::to_string(font) + " 0 R >> " + page.resources + " >> /Contents " +
                           std::to_string(content) + " 0 R >>");
        kids += std::to_string(pageObj) + " 0 R ";
    }
    b.set(catalog, "<< /Type /Catalog /Pages " + std::to_string(pagesObj) + " 0 R >>");
    b.set(pagesObj, "<< /Type /Pages /Kids [" + kids + "] /Count " +
                        (pagesExtra.empty() ? std::to_string(pages.size()) : pagesExtra) + " >>");
    const int infoObj =
        b.add("<< /Title " + pdfString(info.title) + " /Author " + pdfString(info.author) +
              " /Producer " + pdfString(info.producer) + " >>");
    return b.finish(catalog, infoObj);
}

std::string zlibCompress(const std::string& data) {
    uLongf size = compressBound(uLong(data.size()));
    std::string out(size, '\0');
    if (compress2(reinterpret_cast<Bytef*>(out.data()), &size,
                  reinterpret_cast<const Bytef*>(data.data()), uLong(data.size()), 9) != Z_OK) {
        throw std::runtime_error("zlib compress failed");
    }
    out.resize(size);
    return out;
}

// zlib stream of 1 GiB of zero bytes, made in 1 MiB steps with run-length matching (fast).
std::string deflatedGigabyteOfZeros() {
    static const std::string cached = [] {
        z_stream z{};
        deflateInit2(&z, 9, Z_DEFLATED, 15, 9, Z_RLE);
        const std::string zeros(1 << 20, '\0');
        std::string out;
        char buf[1 << 16];
        for (int i = 0; i < 1024; ++i) {
            z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(zeros.data()));
            z.avail_in = uInt(zeros.size());
            const int flush = i == 1023 ? Z_FINISH : Z_NO_FLUSH;
            do {
                z.next_out = reinterpret_cast<Bytef*>(buf);
                z.avail_out = sizeof buf;
                deflate(&z, flush);
                out.append(buf, sizeof buf - z.avail_out);
            } while (z.avail_out == 0);
        }
        deflateEnd(&z);
        return zlibCompress(out);  // the second layer: ~1 MiB of repetitive bytes -> a few KiB
    }();
    return cached;
}

}  // namespace

std::string makeTextPdf(const std::vector<std::string>& pages, const PdfInfo& info) {
    PdfBuilder b;
    std::vector<PageSpec> specs;
    for (const auto& text : pages) specs.push_back({textContent(text, 12), ""});
    return buildPdf(b, specs, info);
}

std::string makeScannedPdf(const std::vector<std::string>& pages) {
    // Render large clean text with Poppler, then keep only the pixels.
    std::vector<std::string> big;
    const auto source = Poppler::Document::loadFromData(QByteArray::fromStdString([&] {
        PdfBuilder b;
        std::vector<PageSpec> specs;
        for (const auto& text : pages) specs.push_back({textContent(text, 28), ""});
        return buildPdf(b, specs, {});
    }()));
    if (!source) throw std::runtime_error("fixture: Poppler cannot read its own text PDF");
    source->setRenderHint(Poppler::Document::Antialiasing);
    source->setRenderHint(Poppler::Document::TextAntialiasing);
    PdfBuilder b;
    std::vector<PageSpec> specs;
    for (int i = 0; i < source->numPages(); ++i) {
        const QImage gray =
            source->page(i)->renderToImage(150, 150).convertToFormat(QImage::Format_Grayscale8);
        std::string pixels;
        for (int y = 0; y < gray.height(); ++y) {
            pixels.append(reinterpret_cast<const char*>(gray.constScanLine(y)),
                          size_t(gray.width()));
        }
        const int image = b.add(PdfBuilder::stream(
            "/Type /XObject /Subtype /Image /Width " + std::to_string(gray.width()) + " /Height " +
                std::to_string(gray.height()) +
                " /ColorSpace /DeviceGray /BitsPerComponent 8 /Filter /FlateDecode",
            zlibCompress(pixels)));
        specs.push_back({"q 612 0 0 792 0 0 cm /Im1 Do Q",
                         "/XObject << /Im1 " + std::to_string(image) + " 0 R >>"});
    }
    return buildPdf(b, specs, {"scan", "", "Lectern test scanner"});
}

std::string makeFlateBombContentPdf() {
    PdfBuilder b;
    const std::string bomb = deflatedGigabyteOfZeros();
    const int catalog = b.reserve();
    const int content = b.add("<< /Filter [/FlateDecode /FlateDecode] /Length " +
                              std::to_string(bomb.size()) + " >>\nstream\n" + bomb + "\nendstream");
    b.add("<< /Type /Page /Parent 4 0 R /MediaBox [0 0 612 792] /Contents " +
          std::to_string(content) + " 0 R >>");
    b.add("<< /Type /Pages /Kids [3 0 R] /Count 1 >>");
    b.set(catalog, "<< /Type /Catalog /Pages 4 0 R >>");
    return b.finish(catalog, 0);
}

std::string makeFlateBombFontPdf() {
    PdfBuilder b;
    const std::string bomb = deflatedGigabyteOfZeros();
    const int fontFile =
        b.add("<< /Filter [/FlateDecode /FlateDecode] /Length1 1073741824 /Length " +
              std::to_string(bomb.size()) + " >>\nstream\n" + bomb + "\nendstream");
    const int descriptor = b.add(
        "<< /Type /FontDescriptor /FontName /Bomb /Flags 32 /FontBBox [0 0 1000 1000] "
        "/ItalicAngle 0 /Ascent 800 /Descent -200 /CapHeight 700 /StemV 80 /FontFile " +
        std::to_string(fontFile) + " 0 R >>");
    const int font = b.add("<< /Type /Font /Subtype /Type1 /BaseFont /Bomb /FontDescriptor " +
                           std::to_string(descriptor) + " 0 R >>");
    const int catalog = b.reserve();
    const int pages = b.reserve();
    const int content = b.add(PdfBuilder::stream("", "BT /FB 12 Tf 72 720 Td (boom) Tj ET"));
    const int page =
        b.add("<< /Type /Page /Parent " + std::to_string(pages) +
              " 0 R /MediaBox [0 0 612 792] /Resources << /Font << /FB " + std::to_string(font) +
              " 0 R >> >> /Contents " + std::to_string(content) + " 0 R >>");
    b.set(pages, "<< /Type /Pages /Kids [" + std::to_string(page) + " 0 R] /Count 1 >>");
    b.set(catalog, "<< /Type /Catalog /Pages " + std::to_string(pages) + " 0 R >>");
    return b.finish(catalog, 0);
}

std::string makeHugeCountPdf() {
    PdfBuilder b;
    return buildPdf(b, {{textContent("only one real page", 12), ""}}, {}, "2147483647");
}

std::string makeDeepNestingPdf() {
    PdfBuilder b;
    const std::string deep = std::string(100000, '[') + std::string(100000, ']');
    const int nested = b.add(deep);
    return buildPdf(b,
                    {{deep + " pop\n" + textContent("after the nesting", 12),
                      "/ExtGState " + std::to_string(nested) + " 0 R"}},
                    {});
}

std::string makeXrefLoopPdf() {
    std::string pdf = makeTextPdf({"xref loop page"});
    // An update whose /Prev points at itself, and whose own startxref says the same.
    const size_t self = pdf.size();
    pdf += "xref\n0 1\n0000000000 65535 f \ntrailer\n<< /Size 9 /Root 1 0 R /Prev " +
           std::to_string(self) + " >>\nstartxref\n" + std::to_string(self) + "\n%%EOF\n";
    return pdf;
}

size_t startxrefOffset(const std::string& pdf) {
    return pdf.rfind("startxref");
}

void writeFile(const std::filesystem::path& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), std::streamsize(bytes.size()));
    if (!out) throw std::runtime_error("cannot write " + path.string());
}

std::string readFile(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

bool qpdfEncrypt(const std::filesystem::path& in, const std::filesystem::path& out,
                 const std::string& user, const std::string& owner, int bits) {
    auto quote = [](const std::string& s) {
        std::string q = "'";
        for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
        return q + "'";
    };
    const std::string cmd = "qpdf --encrypt " + quote(user) + " " + quote(owner) + " " +
                            std::to_string(bits) + (bits == 128 ? " --use-aes=y" : "") + " -- " +
                            quote(in.string()) + " " + quote(out.string()) + " 2>/dev/null";
    return std::system(cmd.c_str()) == 0 && std::filesystem::exists(out);
}

std::vector<RealPdf> debianPdfs() {
    const std::vector<RealPdf> all = {
        {"/usr/share/doc/why3-doc-pdf/manual.pdf", 184, 20, "Einstein"},
        {"/usr/share/doc/libtasn1-doc/libtasn1.pdf", 36, 1, "Abstract Syntax Notation One"},
        {"/usr/share/doc/shared-mime-info/shared-mime-info-spec.pdf", 17, 9, "MIME-Magic"},
    };
    std::vector<RealPdf> present;
    for (const auto& pdf : all) {
        if (std::filesystem::exists(pdf.path)) present.push_back(pdf);
    }
    return present;
}

TempDir::TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "lectern-pdf-XXXXXX").string();
    if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
}

TempDir::~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
}

std::string Extracted::pageText(int page) const {
    for (const auto& s : segments) {
        if (s.kind == ingest::SegmentKind::Page && s.ordinal == page) return s.text;
    }
    return {};
}

Extracted runExtractor(ingest::Extractor& extractor, const ingest::ExtractRequest& request) {
    Extracted out;
    out.result = extractor.extract(request, [&](ingest::Segment&& s) {
        out.segments.push_back(std::move(s));
        return true;
    });
    return out;
}

Extracted runExtractor(ingest::Extractor& extractor, const std::filesystem::path& path,
                       const std::string& password) {
    ingest::ExtractRequest request;
    request.path = path;
    request.password = password;
    return runExtractor(extractor, request);
}

const char* statusName(ingest::ExtractStatus status) {
    using S = ingest::ExtractStatus;
    switch (status) {
        case S::Ok:
            return "Ok";
        case S::Partial:
            return "Partial";
        case S::Error:
            return "Error";
        case S::NeedsPassword:
            return "NeedsPassword";
        case S::WrongPassword:
            return "WrongPassword";
        case S::SkippedBinary:
            return "SkippedBinary";
        case S::Vanished:
            return "Vanished";
        case S::Timeout:
            return "Timeout";
        case S::MemoryLimit:
            return "MemoryLimit";
        case S::Crashed:
            return "Crashed";
    }
    return "?";
}

}  // namespace lectern::testing
