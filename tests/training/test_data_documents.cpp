// Training data from whole documents (ByteDataStream::fromDocuments, what
// `lectern-cli train --collection` feeds): the validation split is by document — every
// document lands whole on exactly one side — deterministic in the seed, never empty on
// either side when there are two documents or more, and documents are packed with the
// separator between them.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "training/data_stream.h"

namespace lectern {
namespace {

using train::ByteDataStream;

std::vector<std::string> docs(int n) {
    std::vector<std::string> d;
    for (int i = 0; i < n; ++i)
        d.push_back("document " + std::to_string(i) +
                    std::string(size_t(40 + i), char('a' + i % 26)));
    return d;
}

// The documents of a packed side, split at the separators.
std::vector<std::string> unpack(const std::vector<int32_t>& side) {
    std::vector<std::string> out;
    if (side.empty()) return out;
    out.emplace_back();
    for (int32_t t : side) {
        if (t == ByteDataStream::kDocSeparator) {
            out.emplace_back();
        } else {
            out.back() += char(t);
        }
    }
    return out;
}

TEST(DocumentData, SplitByWholeDocument) {
    const std::vector<std::string> d = docs(20);
    auto s = ByteDataStream::fromDocuments(d, 0.25, 3);
    ASSERT_TRUE(s) << s.error();
    EXPECT_EQ(s->validationDocuments(), 5);
    std::vector<std::string> tr = unpack(s->train()), va = unpack(s->validation());
    EXPECT_EQ(tr.size(), 15u);
    EXPECT_EQ(va.size(), 5u);
    std::vector<std::string> all = tr;
    all.insert(all.end(), va.begin(), va.end());
    std::sort(all.begin(), all.end());
    std::vector<std::string> want = d;
    std::sort(want.begin(), want.end());
    EXPECT_EQ(all, want);  // each document whole, on exactly one side

    auto again = ByteDataStream::fromDocuments(d, 0.25, 3);
    ASSERT_TRUE(again);
    EXPECT_EQ(again->validation(), s->validation());
    auto other = ByteDataStream::fromDocuments(d, 0.25, 4);
    ASSERT_TRUE(other);
    EXPECT_NE(other->validation(), s->validation());  // a different seed, another split
}

TEST(DocumentData, SmallCollections) {
    auto two = ByteDataStream::fromDocuments(docs(2), 0.1, 1);
    ASSERT_TRUE(two);
    EXPECT_EQ(two->validationDocuments(), 1);  // at least one held out
    auto one = ByteDataStream::fromDocuments(docs(1), 0.1, 1);
    ASSERT_TRUE(one);
    EXPECT_EQ(one->validationDocuments(), 0);  // nothing to hold out without losing all
    EXPECT_FALSE(one->train().empty());
    auto none = ByteDataStream::fromDocuments(docs(5), 0.0, 1);
    ASSERT_TRUE(none);
    EXPECT_EQ(none->validationDocuments(), 0);
    auto all = ByteDataStream::fromDocuments(docs(5), 1.0, 1);
    ASSERT_TRUE(all);
    EXPECT_EQ(all->validationDocuments(), 4);  // never every document
    EXPECT_FALSE(ByteDataStream::fromDocuments({}, 0.1, 1));
}

}  // namespace
}  // namespace lectern
