// Byte-level token streams (data_stream.h).
#include "training/data_stream.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <numeric>
#include <sstream>

namespace lectern::train {

void ByteDataStream::addDocument(const std::string& bytes, double valFraction) {
    const size_t cut = bytes.size() - size_t(double(bytes.size()) * valFraction);
    for (size_t i = 0; i < bytes.size(); ++i)
        (i < cut ? train_ : val_).push_back(int32_t(uint8_t(bytes[i])));
}

ByteDataStream ByteDataStream::fromBytes(const std::string& bytes, double valFraction,
                                         uint64_t seed) {
    ByteDataStream s;
    s.rng_.seed(seed);
    s.addDocument(bytes, valFraction);
    return s;
}

Expected<ByteDataStream> ByteDataStream::fromFiles(const std::vector<std::string>& paths,
                                                   double valFraction, uint64_t seed) {
    if (paths.empty()) return Status::error("no text files given");
    ByteDataStream s;
    s.rng_.seed(seed);
    for (const std::string& p : paths) {
        std::ifstream f(p, std::ios::binary);
        if (!f) return Status::error(p + ": cannot open");
        std::ostringstream o;
        o << f.rdbuf();
        if (f.bad()) return Status::error(p + ": read error");
        s.addDocument(o.str(), valFraction);
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

void ByteDataStream::nextBatch(int64_t B, int64_t L, std::vector<int32_t>& out) {
    out.resize(size_t(B * L));
    const uint64_t span = uint64_t(int64_t(train_.size()) - L + 1);
    for (int64_t b = 0; b < B; ++b) {
        const uint64_t start = rng_() % span;
        for (int64_t t = 0; t < L; ++t) out[size_t(b * L + t)] = train_[size_t(start) + size_t(t)];
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
