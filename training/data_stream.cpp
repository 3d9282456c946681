// Byte-level token streams (data_stream.h).
#include "training/data_stream.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <numeric>
#include <sstream>

namespace lectern::train {

void ByteDataStream::addDocument(const std::string& bytes, double valFraction,
                                 int windowStartAfter) {
    const size_t cut = bytes.size() - size_t(double(bytes.size()) * valFraction);
    const int64_t begin = int64_t(train_.size());
    for (size_t i = 0; i < bytes.size(); ++i)
        (i < cut ? train_ : val_).push_back(int32_t(uint8_t(bytes[i])));
    const int64_t end = int64_t(train_.size());
    if (windowStartAfter < 0 ||
        std::find(train_.begin() + begin, train_.end(), windowStartAfter) == train_.end())
        return;
    // Examples: from the file's start and from after each window-start byte; a start that
    // is the byte itself (the file begins with it, or two in a row) starts nothing.
    std::vector<int64_t> starts;
    for (int64_t i = begin; i < end; ++i)
        if ((i == begin || train_[size_t(i - 1)] == windowStartAfter) &&
            train_[size_t(i)] != windowStartAfter)
            starts.push_back(i);
    for (size_t k = 0; k < starts.size(); ++k)
        examples_.emplace_back(starts[k], k + 1 < starts.size() ? starts[k + 1] : end);
}

ByteDataStream ByteDataStream::fromBytes(const std::string& bytes, double valFraction,
                                         uint64_t seed) {
    ByteDataStream s;
    s.rng_.seed(seed);
    s.addDocument(bytes, valFraction);
    return s;
}

Expected<ByteDataStream> ByteDataStream::fromFiles(const std::vector<std::string>& paths,
                                                   double valFraction, uint64_t seed,
                                                   int windowStartAfter) {
    if (paths.empty()) return Status::error("no text files given");
    if (windowStartAfter > 255) return Status::error("the window-start byte must be 0..255");
    ByteDataStream s;
    s.rng_.seed(seed);
    for (const std::string& p : paths) {
        std::ifstream f(p, std::ios::binary);
        if (!f) return Status::error(p + ": cannot open");
        std::ostringstream o;
        o << f.rdbuf();
        if (f.bad()) return Status::error(p + ": read error");
        s.addDocument(o.str(), valFraction, windowStartAfter);
    }
    return s;
}

Expected<ByteDataStream> ByteDataStream::fromDocuments(const std::vector<std::string>& docs,
                                                       double valFraction, uint64_t seed) {
    if (docs.empty()) return Status::error("no documents with text");
    const int64_t n = int64_t(docs.size());
    int64_t nVal = std::llround(std::clamp(valFraction, 0.0, 1.0) * double(n));
    if (valFraction > 0.0 && n >= 2) nVal = std::clamp<int64_t>(nVal, 1, n - 1);
    if (n < 2) nVal = 0;
    std::vector<size_t> order(docs.size());
    std::iota(order.begin(), order.end(), size_t(0));
    // Its own generator (not rng_, which draws the windows): the split depends on the seed
    // and the document list only.
    std::mt19937_64 split(seed ^ 0x5e11a7ull);
    for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[split() % i]);
    ByteDataStream s;
    s.rng_.seed(seed);
    s.valDocs_ = nVal;
    for (size_t i = 0; i < order.size(); ++i) {
        std::vector<int32_t>& side = int64_t(i) < nVal ? s.val_ : s.train_;
        if (!side.empty()) side.push_back(kDocSeparator);
        for (char c : docs[order[i]]) side.push_back(int32_t(uint8_t(c)));
    }
    return s;
}

// The window starts for windows of L tokens: every position outside the examples (as far
// as a window fits), and each example's start (where a window fits) weighted by its bytes.
void ByteDataStream::buildStarts(int64_t L) {
    starts_.clear();
    cumWeight_.clear();
    startsLen_ = L;
    const int64_t last = int64_t(train_.size()) - L;  // the last start a window fits at
    auto span = [&](int64_t from, int64_t to) {       // positions [from, to) outside examples
        to = std::min(to, last + 1);
        if (to > from) starts_.push_back({from, to - from, 1});
    };
    int64_t pos = 0;
    for (const auto& [first, end] : examples_) {
        span(pos, first);
        if (first <= last) starts_.push_back({first, 1, end - first});
        pos = end;
    }
    span(pos, int64_t(train_.size()));
    uint64_t total = 0;
    for (const Starts& r : starts_) cumWeight_.push_back(total += uint64_t(r.count * r.weight));
}

void ByteDataStream::nextBatch(int64_t B, int64_t L, std::vector<int32_t>& out) {
    out.resize(size_t(B * L));
    if (!examples_.empty() && startsLen_ != L) buildStarts(L);
    if (examples_.empty() || cumWeight_.empty() || cumWeight_.back() == 0) {
        // No examples: random offsets everywhere, the very draws of a stream without the option.
        const uint64_t span = uint64_t(int64_t(train_.size()) - L + 1);
        for (int64_t b = 0; b < B; ++b) {
            const uint64_t start = rng_() % span;
            for (int64_t t = 0; t < L; ++t)
                out[size_t(b * L + t)] = train_[size_t(start) + size_t(t)];
        }
        drawn_ += B;
        return;
    }
    for (int64_t b = 0; b < B; ++b) {
        // One draw a window, as without examples, so the stream's state stays RNG + count.
        const uint64_t r = rng_() % cumWeight_.back();
        const size_t i =
            size_t(std::upper_bound(cumWeight_.begin(), cumWeight_.end(), r) - cumWeight_.begin());
        const uint64_t before = i == 0 ? 0 : cumWeight_[i - 1];
        const int64_t start =
            starts_[i].first + int64_t((r - before) / uint64_t(starts_[i].weight));
        for (int64_t t = 0; t < L; ++t) out[size_t(b * L + t)] = train_[size_t(start + t)];
    }
    drawn_ += B;
}

std::string ByteDataStream::saveState() const {
    std::ostringstream o;
    o << drawn_ << ' ' << rng_;
    return o.str();
}

Status ByteDataStream::loadState(const std::string& state) {
    std::istringstream i(state);
    int64_t drawn = 0;
    std::mt19937_64 rng;
    if (!(i >> drawn >> rng)) return Status::error("data stream state is malformed");
    drawn_ = drawn;
    rng_ = rng;
    return Status::ok();
}

}  // namespace lectern::train
