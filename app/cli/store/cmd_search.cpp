// `lectern-cli search QUERY --collection NAME [--limit N] [--json]`: ranked passages
// (BM25 over the FTS5 index) with the document path, page or line range, and a snippet
// with the matched words highlighted (bold on a terminal, [brackets] otherwise).
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <cstdio>

#include "cli/command.h"
#include "cli/store/open_store.h"
#include "store.h"
#include "store_location.h"

namespace lectern::cli {
namespace {

struct SearchArgs {
    std::string query;
    std::string collection;
    int limit = 10;
    bool json = false;
};

std::string location(const store::SearchHit& hit) {
    using ingest::SegmentKind;
    if (hit.kind == SegmentKind::Page) {
        return "page " + std::to_string(hit.ordinal) + (hit.ocr ? " (OCR)" : "");
    }
    std::string where;
    if (hit.lineStart > 0) {
        where = hit.lineEnd > hit.lineStart
                    ? "lines " + std::to_string(hit.lineStart) + "-" + std::to_string(hit.lineEnd)
                    : "line " + std::to_string(hit.lineStart);
    }
    if (hit.kind != SegmentKind::Lines && !hit.label.empty() && hit.label != where) {
        where = where.empty() ? hit.label : hit.label + ", " + where;
    }
    return where;
}

void printJson(const std::vector<store::SearchHit>& hits) {
    nlohmann::json out = nlohmann::json::array();
    int rank = 0;
    for (const store::SearchHit& hit : hits) {
        nlohmann::json h = {
            {"rank", ++rank},     {"path", hit.path},       {"location", location(hit)},
            {"label", hit.label}, {"snippet", hit.snippet}, {"score", hit.score},
            {"ocr", hit.ocr}};
        if (hit.kind == ingest::SegmentKind::Page) h["page"] = hit.ordinal;
        if (hit.lineStart > 0) h["lines"] = {hit.lineStart, hit.lineEnd};
        if (hit.kind == ingest::SegmentKind::Record || hit.kind == ingest::SegmentKind::Message) {
            h["record"] = hit.ordinal;
        }
        out.push_back(std::move(h));
    }
    std::printf("%s\n", out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
}

// Snippets span lines; on a terminal one line per passage reads better.
std::string oneLine(const std::string& text) {
    std::string out;
    bool space = false;
    for (const char c : text) {
        const bool blank = c == '\n' || c == '\r' || c == '\t' || c == ' ';
        if (blank) {
            space = !out.empty();
            continue;
        }
        if (space) out += ' ';
        space = false;
        out += c;
    }
    return out;
}

int runSearch(const SearchArgs& args, const GlobalOptions& globals) {
    std::unique_ptr<store::Store> store = openStoreOrReport(globals);
    if (!store) return kExitFailure;
    const bool tty = !args.json && isatty(STDOUT_FILENO) == 1;
    store::SearchRequest request;
    request.collection = args.collection;
    request.query = args.query;
    request.limit = args.limit;
    request.markOpen = tty ? "\033[1m" : "[";
    request.markClose = tty ? "\033[0m" : "]";
    Expected<std::vector<store::SearchHit>> hits = store->search(request);
    if (!hits) {
        std::fprintf(stderr, "error: %s\n", hits.error().c_str());
        return kExitFailure;
    }
    if (args.json) {
        printJson(*hits);
        return kExitOk;
    }
    if (hits->empty()) std::printf("no matches for '%s'\n", args.query.c_str());
    int rank = 0;
    for (const store::SearchHit& hit : *hits) {
        std::printf("%d. %s  %s\n   %s\n", ++rank, hit.path.c_str(), location(hit).c_str(),
                    oneLine(hit.snippet).c_str());
    }
    return kExitOk;
}

const CommandRegistration registration{{
    "search",
    "Search a collection: ranked passages with page or line references",
    [](CLI::App& sub, const GlobalOptions& globals) -> std::function<int()> {
        auto args = std::make_shared<SearchArgs>();
        sub.add_option("query", args->query, "words to find; \"quoted phrase\", prefix*")
            ->required();
        sub.add_option("--collection", args->collection, "collection to search")->required();
        sub.add_option("--limit", args->limit, "most passages to show")
            ->check(CLI::Range(1, 10000));
        sub.add_flag("--json", args->json, "machine-readable output");
        return [args, &globals] { return runSearch(*args, globals); };
    },
}};

}  // namespace
}  // namespace lectern::cli
