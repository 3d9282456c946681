// Plain text, Markdown and logs (text.h).
#include "ingest/extractors/text.h"

#include <algorithm>
#include <array>
#include <cctype>

#include "ingest/extractors/text_stream.h"

namespace lectern::ingest {
namespace {

std::string lowerExtension(const std::filesystem::path& path) {
    std::string ext = path.extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(),
                   [](unsigned char c) { return char(std::tolower(c)); });
    return ext;
}

// Rotated logs ("syslog.1", "app.log.3") count as logs.
bool isLogName(const std::filesystem::path& path) {
    const std::string name = path.filename().string();
    if (name.find(".log") != std::string::npos) return true;
    const std::string ext = lowerExtension(path);
    return ext.size() > 1 && std::all_of(ext.begin() + 1, ext.end(), ::isdigit) &&
           path.stem().string().find("log") != std::string::npos;
}

// ATX heading ("## Title"): up to three spaces, 1-6 '#', then a space or the end.
bool atxHeading(std::string_view line, std::string* title) {
    size_t i = 0;
    while (i < line.size() && i < 3 && line[i] == ' ') ++i;
    size_t hashes = 0;
    while (i + hashes < line.size() && line[i + hashes] == '#') ++hashes;
    if (hashes == 0 || hashes > 6) return false;
    i += hashes;
    if (i < line.size() && line[i] != ' ' && line[i] != '\t') return false;
    std::string_view rest = line.substr(i);
    while (!rest.empty() && (rest.front() == ' ' || rest.front() == '\t')) rest.remove_prefix(1);
    while (!rest.empty() && (rest.back() == ' ' || rest.back() == '#' || rest.back() == '\t')) {
        rest.remove_suffix(1);
    }
    *title = std::string(hashes, '#') + " " + std::string(rest.substr(0, utf8CutPoint(rest, 200)));
    return true;
}

bool isFence(std::string_view line) {
    size_t i = 0;
    while (i < line.size() && i < 3 && line[i] == ' ') ++i;
    return line.substr(i, 3) == "```" || line.substr(i, 3) == "~~~";
}

// "===" or "---" under a paragraph line makes that line a heading (setext).
bool setextUnderline(std::string_view line) {
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
    size_t i = 0;
    while (i < line.size() && i < 3 && line[i] == ' ') ++i;
    line.remove_prefix(i);
    if (line.empty() || (line[0] != '=' && line[0] != '-')) return false;
    return line.find_first_not_of(line[0]) == std::string_view::npos;
}

// Splits Markdown into sections at ATX and setext headings, outside fenced code. One short
// whole line is held back so that a setext underline can still make it a heading.
class MarkdownSections {
public:
    MarkdownSections(SegmentBuilder& out, std::string firstLabel) : out_(out) {
        out_.setSection(std::move(firstLabel), section_);
    }
    bool add(std::string_view text, int64_t line, bool endsLine) {
        if (!endsLine || text.size() >= 4096) {  // pieces of long lines are never headings
            return flushHeld() && out_.add(text, line, endsLine);
        }
        std::string title;
        if (held_ && !inFence_ && setextUnderline(text) &&
            heldText_.find_first_not_of(" \t") != std::string::npos) {
            std::string_view t = heldText_;
            while (!t.empty() && t.front() == ' ') t.remove_prefix(1);
            if (!startSection((text.find('=') != std::string_view::npos ? "# " : "## ") +
                              std::string(t.substr(0, utf8CutPoint(t, 200))))) {
                return false;
            }
            return flushHeld() && out_.add(text, line, true);
        }
        if (!flushHeld()) return false;
        if (isFence(text)) {
            inFence_ = !inFence_;
            return out_.add(text, line, true);
        }
        if (!inFence_ && atxHeading(text, &title)) {
            return startSection(title) && out_.add(text, line, true);
        }
        held_ = true;
        heldText_.assign(text);
        heldLine_ = line;
        return true;
    }
    bool finish() { return flushHeld(); }

private:
    bool startSection(std::string title) {
        if (!out_.flush()) return false;
        out_.setSection(std::move(title), ++section_);
        return true;
    }
    bool flushHeld() {
        if (!held_) return true;
        held_ = false;
        return out_.add(heldText_, heldLine_, true);
    }

    SegmentBuilder& out_;
    int64_t section_ = 1;
    bool inFence_ = false, held_ = false;
    std::string heldText_;
    int64_t heldLine_ = 0;
};

}  // namespace

bool isMarkdownPath(const std::filesystem::path& path) {
    const std::string ext = lowerExtension(path);
    return ext == ".md" || ext == ".markdown" || ext == ".mdown" || ext == ".mkd";
}

bool TextExtractor::accepts(const std::filesystem::path& path, const std::string&) const {
    static const std::array<const char*, 9> kExt = {".txt", ".text", ".log", ".out", ".err",
                                                    ".rst", ".adoc", ".org", ".nfo"};
    const std::string ext = lowerExtension(path);
    return isMarkdownPath(path) || isLogName(path) ||
           std::find(kExt.begin(), kExt.end(), ext) != kExt.end();
}

ExtractResult TextExtractor::extract(const ExtractRequest& request, const SegmentSink& sink) {
    ExtractResult result;
    const bool markdown = isMarkdownPath(request.path);
    result.meta.mimeType = markdown ? "text/markdown" : "text/plain";
    SegmentBuilder builder(sink, markdown ? SegmentKind::Section : SegmentKind::Lines);
    // File names may be any bytes; a label must be valid UTF-8.
    MarkdownSections sections(builder,
                              decodeToUtf8(request.path.filename().string(), nullptr, "UTF-8"));
    LineSplitter lines([&](std::string_view text, int64_t line, bool endsLine) {
        return markdown ? sections.add(text, line, endsLine) : builder.add(text, line, endsLine);
    });
    const bool ok =
        streamDecoded(request, result, [&](std::string_view text) { return lines.feed(text); });
    if (!ok) {
        if (builder.stopped()) {
            result.status = ExtractStatus::Partial;
            addWarning(result, request.path, "stopped by the consumer");
        }
        result.segmentCount = builder.segments();
        return result;
    }
    lines.finish();
    if (markdown) sections.finish();
    builder.flush();
    result.segmentCount = builder.segments();
    result.meta.extra["lines"] = std::to_string(lines.lines());
    return result;
}

}  // namespace lectern::ingest
