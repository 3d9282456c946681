// Helpers of the services tests (see services_test_util.h).
#include "services_test_util.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numbers>
#include <random>

#include "random_model.h"

namespace lectern::services::testing {
namespace fs = std::filesystem;

ScratchStore::ScratchStore() {
    dir = test::makeTempDir("lectern-services");
    auto opened = store::Store::open(dir);
    if (!opened) throw std::runtime_error(opened.error());
    store = std::move(*opened);
    auto c = store->ensureCollection("c");
    if (!c) throw std::runtime_error(c.error());
    collection = *c;
}

ScratchStore::~ScratchStore() {
    store.reset();
    std::error_code ec;
    fs::remove_all(dir, ec);
}

Expected<int64_t> writeDocument(store::Store& st, int64_t collectionId, const std::string& path,
                                const std::vector<std::string>& segments, bool pages) {
    std::string joined;
    for (const std::string& t : segments) joined += t + "\x1e";
    const std::string hash =
        std::to_string(std::hash<std::string>{}(joined)) + "-" + std::to_string(joined.size());
    if (Status s = st.begin(); !s) return s;
    Expected<int64_t> content = st.createPendingContent(hash, pages ? "pdf" : "text");
    if (!content) return content.status();
    int64_t line = 1;
    for (size_t i = 0; i < segments.size(); ++i) {
        ingest::Segment seg;
        seg.kind = pages ? ingest::SegmentKind::Page : ingest::SegmentKind::Lines;
        seg.ordinal = int64_t(i + 1);
        seg.lineStart = line;
        line += 1 + int64_t(std::count(segments[i].begin(), segments[i].end(), '\n'));
        seg.lineEnd = line - 1;
        seg.label = (pages ? "page " : "lines ") + std::to_string(i + 1);
        seg.text = segments[i];
        if (Status s = st.appendSegment(*content, int64_t(i), seg); !s) return s;
    }
    Expected<int64_t> id =
        st.completeContent(*content, int64_t(segments.size()), int64_t(joined.size()));
    if (!id) return id.status();
    store::DocumentWrite doc;
    doc.collectionId = collectionId;
    doc.path = path;
    doc.kind = pages ? "pdf" : "text";
    doc.hash = hash;
    doc.contentId = *id;
    doc.pageCount = pages ? int64_t(segments.size()) : 0;
    if (Status s = st.putDocument(doc); !s) return s;
    if (Status s = st.commit(); !s) return s;
    Expected<store::Stmt> q =
        st.database().prepare("SELECT id FROM documents WHERE collection_id = ?1 AND path = ?2");
    if (!q) return q.status();
    q->bind(1, collectionId).bind(2, path);
    Expected<bool> row = q->step();
    if (!row) return row.status();
    if (!*row) return Status::error("document " + path + " not written");
    return q->columnInt(0);
}

std::string sampleText(uint64_t seed, size_t bytes) {
    static const char* words[] = {"the",    "contract", "party",   "shall", "within", "days",
                                  "notice", "of",       "payment", "and",   "clause", "term",
                                  "agreed", "a",        "section", "by",    "is",     "void"};
    std::mt19937_64 rng(seed);
    std::string out;
    while (out.size() < bytes) {
        out += words[rng() % (sizeof words / sizeof *words)];
        out += rng() % 9 == 0 ? ".\n" : " ";
    }
    return out;
}

std::vector<std::string> samplePages(uint64_t seed, int pages, size_t bytesPerPage) {
    std::vector<std::string> out;
    for (int i = 0; i < pages; ++i)
        out.push_back(sampleText(seed * 1000 + uint64_t(i), bytesPerPage));
    return out;
}

TestModel::TestModel(uint64_t seed) {
    dir = test::makeTempDir("lectern-services-model");
    test::RandomModelSpec spec;
    spec.dModel = 32;
    spec.nLayer = 2;
    spec.dState = 16;
    spec.headdim = 16;
    spec.chunk = 16;
    if (Status s = test::writeRandomModel(dir, spec, seed); !s)
        throw std::runtime_error(s.message());
    auto m = Model::load(dir);
    if (!m) throw std::runtime_error(m.error());
    model.emplace(std::move(*m));
}

TestModel::~TestModel() {
    std::error_code ec;
    fs::remove_all(dir, ec);
}

namespace {

double maxRelError(const std::vector<float>& a, const std::vector<float>& b, bool angle) {
    double maxAbs = 0, maxRef = 0;
    if (a.size() != b.size()) return INFINITY;
    for (size_t i = 0; i < a.size(); ++i) {
        if (!std::isfinite(a[i]) || !std::isfinite(b[i])) return INFINITY;
        double d = std::fabs(double(a[i]) - double(b[i]));
        if (angle) d = std::fmin(d, 2 * std::numbers::pi - d);
        maxAbs = std::fmax(maxAbs, d);
        maxRef = std::fmax(maxRef, std::fabs(double(b[i])));
    }
    return maxRef > 0 ? maxAbs / maxRef : maxAbs;
}

}  // namespace

double stateError(const Session& a, const Session& b) {
    if (a.position() != b.position()) return INFINITY;
    const auto& la = a.state().layers();
    const auto& lb = b.state().layers();
    if (la.size() != lb.size()) return INFINITY;
    double e = 0;
    for (size_t i = 0; i < la.size(); ++i) {
        e = std::fmax(e, maxRelError(la[i].angle, lb[i].angle, true));
        e = std::fmax(e, maxRelError(la[i].ssm, lb[i].ssm, false));
        e = std::fmax(e, maxRelError(la[i].k, lb[i].k, false));
        e = std::fmax(e, maxRelError(la[i].v, lb[i].v, false));
    }
    const std::vector<float> ga(a.lastLogits().begin(), a.lastLogits().end());
    const std::vector<float> gb(b.lastLogits().begin(), b.lastLogits().end());
    return std::fmax(e, maxRelError(ga, gb, false));
}

bool bitIdentical(const Session& a, const Session& b) {
    if (a.position() != b.position()) return false;
    const auto& la = a.state().layers();
    const auto& lb = b.state().layers();
    if (la.size() != lb.size()) return false;
    auto same = [](const std::vector<float>& x, const std::vector<float>& y) {
        return x.size() == y.size() && std::memcmp(x.data(), y.data(), x.size() * 4) == 0;
    };
    for (size_t i = 0; i < la.size(); ++i)
        if (!same(la[i].angle, lb[i].angle) || !same(la[i].ssm, lb[i].ssm) ||
            !same(la[i].k, lb[i].k) || !same(la[i].v, lb[i].v))
            return false;
    return a.lastLogits().size() == b.lastLogits().size() &&
           std::memcmp(a.lastLogits().data(), b.lastLogits().data(), a.lastLogits().size() * 4) ==
               0;
}

}  // namespace lectern::services::testing
