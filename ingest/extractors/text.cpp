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
    int64_t section = 1;
    bool inFence = false;
    if (markdown) builder.setSection(request.path.filename().string(), section);
    LineSplitter lines([&](std::string_view text, int64_t line, bool endsLine) {
        std::string title;
        // Only whole lines can be headings; a piece of a long line never is.
        if (markdown && endsLine && text.size() < 4096) {
            if (isFence(text)) inFence = !inFence;
            if (!inFence && atxHeading(text, &title)) {
                if (!builder.flush()) return false;
                builder.setSection(title, ++section);
            }
        }
        return builder.add(text, line, endsLine);
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
    builder.flush();
    result.segmentCount = builder.segments();
    result.meta.extra["lines"] = std::to_string(lines.lines());
    return result;
}

}  // namespace lectern::ingest
