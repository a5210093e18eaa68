// WaitList: waiters taken by key (oldest first, by predicate) and by deadline.
#include "coordinator/wait_list.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tokenmeter::coordinator {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Pair;

const absl::Time kT0 = absl::FromUnixSeconds(1000);

TEST(WaitList, TakesByKeyOldestFirstAndOnlyWhatThePredicateWants) {
  WaitList<std::string, int> list;
  list.Add("a", kT0 + absl::Seconds(3), 1);
  list.Add("b", kT0 + absl::Seconds(1), 2);
  list.Add("a", kT0 + absl::Seconds(2), 3);
  list.Add("a", kT0 + absl::Seconds(9), 4);
  EXPECT_THAT(list.TakeIf("a", [](int w) { return w != 3; }), ElementsAre(1, 4));
  EXPECT_EQ(list.size(), 2u);
  EXPECT_THAT(list.Take("a"), ElementsAre(3));
  EXPECT_THAT(list.Take("a"), IsEmpty());
  EXPECT_THAT(list.Take("missing"), IsEmpty());
  EXPECT_EQ(list.NextDeadline(), kT0 + absl::Seconds(1));
}

TEST(WaitList, ExpiresInDeadlineOrderUpToNowInclusive) {
  WaitList<std::string, int> list;
  list.Add("a", kT0 + absl::Seconds(3), 1);
  list.Add("b", kT0 + absl::Seconds(1), 2);
  list.Add("c", kT0 + absl::Seconds(2), 3);
  EXPECT_THAT(list.TakeExpired(kT0), IsEmpty());
  EXPECT_THAT(list.TakeExpired(kT0 + absl::Seconds(2)), ElementsAre(Pair("b", 2), Pair("c", 3)));
  EXPECT_EQ(list.NextDeadline(), kT0 + absl::Seconds(3));
  // An expired waiter is gone from its key too, and a taken one from the deadlines.
  EXPECT_THAT(list.Take("b"), IsEmpty());
  EXPECT_THAT(list.Take("a"), ElementsAre(1));
  EXPECT_TRUE(list.empty());
  EXPECT_EQ(list.NextDeadline(), absl::InfiniteFuture());
}

TEST(WaitList, TakeAllEmptiesIt) {
  WaitList<int, std::string> list;
  for (int i = 0; i < 100; ++i) list.Add(i % 7, kT0 + absl::Seconds(100 - i), std::to_string(i));
  EXPECT_EQ(list.TakeAll().size(), 100u);
  EXPECT_TRUE(list.empty());
}

TEST(BlockUntilAnswered, ReturnsAnAnswerGivenAtOnceOrExpiresAtTheDeadline) {
  EXPECT_EQ(BlockUntilAnswered<int>(
                absl::InfiniteFuture(), [](auto done) { done(7); }, [](absl::Time) { FAIL() << "expired"; }),
            7);
  std::function<void(int)> parked;
  const absl::Time deadline = absl::Now() + absl::Milliseconds(20);
  absl::Time expired_at;
  const int answer = BlockUntilAnswered<int>(
      deadline, [&](auto done) { parked = done; },
      [&](absl::Time now) {
        expired_at = now;
        parked(-1);
      });
  EXPECT_EQ(answer, -1);
  EXPECT_GE(expired_at, deadline);
}

}  // namespace
}  // namespace tokenmeter::coordinator
