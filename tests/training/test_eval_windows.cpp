// Where a capped evaluation looks (train::evalWindowStarts): uncapped it reads every whole
// window in order; capped it spreads its windows over the whole validation stream, so that a
// stream packed from several files (the trainer's --text A B ...) is sampled in every file and
// not in the first one only — a validation loss that only saw file A said nothing of B.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "training/trainer.h"

namespace lectern {
namespace {

using train::evalWindowStarts;

TEST(EvalWindows, UncappedReadsEveryWholeWindowInOrder) {
    const std::vector<int64_t> s = evalWindowStarts(105, 10, 0);
    ASSERT_EQ(s.size(), 10u);
    for (size_t i = 0; i < s.size(); ++i) EXPECT_EQ(s[i], int64_t(i) * 10);
    EXPECT_EQ(evalWindowStarts(105, 10, 50), s);  // a cap above the count changes nothing
}

TEST(EvalWindows, CappedWindowsSpanTheWholeStream) {
    const int64_t tokens = 1000000, L = 512, cap = 16;
    const std::vector<int64_t> s = evalWindowStarts(tokens, L, cap);
    ASSERT_EQ(s.size(), size_t(cap));
    EXPECT_EQ(s.front(), 0);
    for (size_t i = 1; i < s.size(); ++i) {
        EXPECT_GT(s[i], s[i - 1]) << "windows overlap or repeat";
        EXPECT_EQ(s[i] % L, 0) << "a window not on the window grid";
    }
    EXPECT_LE(s.back() + L, tokens);
    // The last window lies in the stream's last sixteenth (give or take the window grid and
    // the partial window at the end): a second file making up the stream's second half gets
    // about half of the windows, where the first-windows rule gave it none.
    EXPECT_GE(s.back(), tokens - tokens / cap - 2 * L);
    int inSecondHalf = 0;
    for (int64_t x : s) inSecondHalf += x + L > tokens / 2;
    EXPECT_GE(inSecondHalf, cap / 2 - 1);
    EXPECT_LE(inSecondHalf, cap / 2 + 1);
}

TEST(EvalWindows, TooShortForOneWindowGivesNone) {
    EXPECT_TRUE(evalWindowStarts(9, 10, 4).empty());
    EXPECT_TRUE(evalWindowStarts(100, 1, 4).empty());  // L < 2 predicts nothing
}

}  // namespace
}  // namespace lectern
