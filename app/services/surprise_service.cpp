// surpriseEnsure (app/services/surprise_service.h).
#include "surprise_service.h"

#include <chrono>
#include <map>

namespace lectern::services {

Expected<SurpriseMap> surpriseFromText(const DocumentText& text, std::span<const float> bits) {
    const size_t T = text.tokens.size();
    if (text.tokenOffsets.size() != T)
        return Status::error("document text: " + std::to_string(text.tokenOffsets.size()) +
                             " token offsets for " + std::to_string(T) + " tokens");
    std::vector<int64_t> ends(T);
    for (size_t t = 0; t < T; ++t)
        ends[t] = t + 1 < T ? text.tokenOffsets[t + 1] : int64_t(text.text.size());
    std::map<int64_t, PageRange> pages;  // a page may span several pieces
    for (const TextPiece& p : text.pieces) {
        if (p.page <= 0) continue;
        auto [it, fresh] = pages.try_emplace(p.page, PageRange{p.page, p.byteStart, p.byteEnd});
        if (!fresh) {
            it->second.byteStart = std::min(it->second.byteStart, p.byteStart);
            it->second.byteEnd = std::max(it->second.byteEnd, p.byteEnd);
        }
    }
    SurpriseInput in;
    in.text = text.text;
    in.tokenEnds = ends;
    in.bits = bits;
    for (const auto& [n, r] : pages) in.pages.push_back(r);
    return surpriseMapBuild(in);
}

Expected<SurpriseResult> surpriseEnsure(StateCache& cache, store::Db& db,
                                        const SurpriseRequest& request) {
    const StateKey key = StateKey::document(request.documentId);
    auto text = cache.text(key);
    if (!text) return text.status();
    SurpriseResult r;
    for (const TextPiece& p : (*text)->pieces) {
        if (p.page > 0) r.hasPages = true;
        if (p.kind == ingest::SegmentKind::Lines || p.kind == ingest::SegmentKind::Record)
            r.prose = false;
    }
    if (!request.recompute) {
        auto found = surpriseFind(db, request.documentId, cache.modelId());
        if (!found) return found.status();
        if (*found) {
            r.run = **found;
            return r;
        }
    }
    const auto t0 = std::chrono::steady_clock::now();
    Session s = cache.model().newSession();
    std::vector<float> bits;
    bits.reserve((*text)->tokens.size());
    PrefillOptions o;
    o.surprisalBits = &bits;
    o.cancel = request.cancel;
    o.progress = request.progress;
    if (Status st = s.prefill((*text)->tokens, o); !st) return st;
    auto map = surpriseFromText(**text, bits);
    if (!map) return map.status();
    auto runId = surpriseSave(db, request.documentId, cache.modelId(), *map);
    if (!runId) return runId.status();
    auto stored = surpriseFind(db, request.documentId, cache.modelId());
    if (!stored) return stored.status();
    if (!*stored)
        return Status::error("surprise map of document " + std::to_string(request.documentId) +
                             " vanished after saving");
    r.run = **stored;
    r.computed = true;
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return r;
}

}  // namespace lectern::services
