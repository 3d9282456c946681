// Surprise map aggregation (app/services/surprise_map.h): one sweep of the tokens per unit,
// each token counted in the unit holding its first byte.
#include "surprise_map.h"

#include <unicode/ubrk.h>
#include <unicode/utext.h>

#include <algorithm>
#include <cmath>
#include <memory>

namespace lectern::services {
namespace {

using Range = std::pair<int64_t, int64_t>;

std::vector<Range> lineRanges(std::string_view text) {
    std::vector<Range> r;
    int64_t start = 0;
    for (size_t i = 0; i < text.size(); ++i)
        if (text[i] == '\n') {
            r.emplace_back(start, int64_t(i) + 1);
            start = int64_t(i) + 1;
        }
    if (start < int64_t(text.size())) r.emplace_back(start, int64_t(text.size()));
    return r;
}

// 1-based line of byte `at`, from the sorted starts of lines.
int64_t lineOf(const std::vector<Range>& lines, int64_t at) {
    auto it = std::upper_bound(lines.begin(), lines.end(), at,
                               [](int64_t v, const Range& r) { return v < r.first; });
    return std::max<int64_t>(1, int64_t(it - lines.begin()));
}

// Pages sorted by byteStart; 0 when `at` falls in no page.
int64_t pageOf(const std::vector<PageRange>& pages, int64_t at) {
    auto it = std::upper_bound(pages.begin(), pages.end(), at,
                               [](int64_t v, const PageRange& p) { return v < p.byteStart; });
    if (it == pages.begin()) return 0;
    --it;
    return at < it->byteEnd ? it->page : 0;
}

// Spans over `ranges` (sorted, disjoint); a token belongs to the range holding its start.
std::vector<SurpriseSpan> aggregate(SurpriseUnit unit, const std::vector<Range>& ranges,
                                    const SurpriseInput& in, const std::vector<Range>& lines) {
    std::vector<SurpriseSpan> out;
    out.reserve(ranges.size());
    size_t t = 0;
    const size_t T = in.bits.size();
    for (size_t i = 0; i < ranges.size(); ++i) {
        SurpriseSpan s;
        s.unit = unit;
        s.ordinal = int64_t(i);
        s.byteStart = ranges[i].first;
        s.byteEnd = ranges[i].second;
        s.lineStart = lineOf(lines, s.byteStart);
        s.lineEnd = lineOf(lines, std::max(s.byteStart, s.byteEnd - 1));
        double sum = 0.0;
        auto start = [&](size_t k) { return k == 0 ? int64_t(0) : in.tokenEnds[k - 1]; };
        while (t < T && start(t) < s.byteStart) ++t;
        for (; t < T && start(t) < s.byteEnd; ++t) {
            if (!std::isfinite(in.bits[t])) continue;
            ++s.tokens;
            sum += in.bits[t];
            s.maxBits = std::max(s.maxBits, double(in.bits[t]));
        }
        s.meanBits = s.tokens > 0 ? sum / double(s.tokens) : 0.0;
        out.push_back(s);
    }
    return out;
}

struct BreakCloser {
    void operator()(UBreakIterator* b) const { ubrk_close(b); }
};
struct TextCloser {
    void operator()(UText* t) const { utext_close(t); }
};

}  // namespace

const char* surpriseUnitName(SurpriseUnit unit) {
    switch (unit) {
        case SurpriseUnit::Line:
            return "line";
        case SurpriseUnit::Sentence:
            return "sentence";
        case SurpriseUnit::Page:
            return "page";
    }
    return "line";
}

Expected<std::vector<std::pair<int64_t, int64_t>>> sentenceRanges(std::string_view text) {
    std::vector<Range> r;
    if (text.empty()) return r;
    // ICU ends a sentence at every line break, but extracted PDF text and wrapped prose break
    // lines inside sentences: a lone newline or a form feed (page break) reads as a space
    // here; a blank line still ends a paragraph. Same length, so offsets are unchanged.
    std::string flat(text);
    for (size_t i = 0; i < flat.size(); ++i) {
        const bool lone = flat[i] == '\n' && (i == 0 || text[i - 1] != '\n') &&
                          (i + 1 == flat.size() || text[i + 1] != '\n');
        if (lone || flat[i] == '\f') flat[i] = ' ';
    }
    UErrorCode err = U_ZERO_ERROR;
    std::unique_ptr<UText, TextCloser> ut(
        utext_openUTF8(nullptr, flat.data(), int64_t(flat.size()), &err));
    std::unique_ptr<UBreakIterator, BreakCloser> bi(ubrk_open(UBRK_SENTENCE, "", nullptr, 0, &err));
    if (U_SUCCESS(err)) ubrk_setUText(bi.get(), ut.get(), &err);
    if (U_FAILURE(err))
        return Status::error(std::string("ICU sentence boundaries: ") + u_errorName(err));
    // With a UTF-8 UText, boundary indices are byte offsets into `text`.
    int64_t prev = ubrk_first(bi.get());
    for (int32_t b = ubrk_next(bi.get()); b != UBRK_DONE; b = ubrk_next(bi.get())) {
        // A run of blank lines is not a sentence: it joins the one before it.
        const bool blank = flat.find_first_not_of(" \t\r\n", size_t(prev)) >= size_t(b);
        if (blank && !r.empty())
            r.back().second = b;
        else
            r.emplace_back(prev, int64_t(b));
        prev = b;
    }
    if (prev < int64_t(text.size())) r.emplace_back(prev, int64_t(text.size()));
    return r;
}

std::vector<int64_t> tokenEndsFromLengths(std::span<const int64_t> tokenBytes) {
    std::vector<int64_t> ends(tokenBytes.size());
    int64_t at = 0;
    for (size_t i = 0; i < tokenBytes.size(); ++i) ends[i] = at += tokenBytes[i];
    return ends;
}

Expected<SurpriseMap> surpriseMapBuild(const SurpriseInput& in) {
    if (in.tokenEnds.size() != in.bits.size())
        return Status::error("surprise map: " + std::to_string(in.bits.size()) +
                             " surprisal values for " + std::to_string(in.tokenEnds.size()) +
                             " tokens");
    for (size_t t = 0; t < in.tokenEnds.size(); ++t) {
        const int64_t prev = t == 0 ? 0 : in.tokenEnds[t - 1];
        if (in.tokenEnds[t] < prev || in.tokenEnds[t] > int64_t(in.text.size()))
            return Status::error("surprise map: token " + std::to_string(t) + " ends at byte " +
                                 std::to_string(in.tokenEnds[t]) +
                                 ", outside the text or before the previous token");
    }
    auto sentences = sentenceRanges(in.text);
    if (!sentences) return sentences.status();
    const std::vector<Range> lines = lineRanges(in.text);
    std::vector<PageRange> pages = in.pages;
    std::sort(pages.begin(), pages.end(),
              [](const PageRange& a, const PageRange& b) { return a.byteStart < b.byteStart; });
    std::vector<Range> pageRanges;
    for (const PageRange& p : pages) pageRanges.emplace_back(p.byteStart, p.byteEnd);

    SurpriseMap m;
    double sum = 0.0;
    for (float b : in.bits)
        if (std::isfinite(b)) {
            ++m.tokenCount;
            sum += b;
        }
    m.meanBits = m.tokenCount > 0 ? sum / double(m.tokenCount) : 0.0;
    for (auto&& part : {aggregate(SurpriseUnit::Line, lines, in, lines),
                        aggregate(SurpriseUnit::Sentence, *sentences, in, lines),
                        aggregate(SurpriseUnit::Page, pageRanges, in, lines)})
        m.spans.insert(m.spans.end(), part.begin(), part.end());
    for (SurpriseSpan& s : m.spans) s.page = pageOf(pages, s.byteStart);
    return m;
}

std::vector<SurpriseSpan> surpriseTop(const SurpriseMap& map, SurpriseUnit unit, int top,
                                      int64_t minTokens) {
    std::vector<SurpriseSpan> pick;
    for (int pass = 0; pass < 2 && pick.empty(); ++pass)
        for (const SurpriseSpan& s : map.spans)
            if (s.unit == unit && s.tokens >= (pass == 0 ? minTokens : 1)) pick.push_back(s);
    std::stable_sort(pick.begin(), pick.end(), [](const SurpriseSpan& a, const SurpriseSpan& b) {
        if (a.meanBits != b.meanBits) return a.meanBits > b.meanBits;
        return a.tokens > b.tokens;
    });
    if (top >= 0 && pick.size() > size_t(top)) pick.resize(size_t(top));
    return pick;
}

}  // namespace lectern::services
