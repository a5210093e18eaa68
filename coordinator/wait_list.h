// Calls that wait for something — a worker's next task, a job's end, a
// rendezvous key — without holding a thread. A waiter is a value (usually a
// callback that finishes a gRPC reactor) kept under a key until what it waits
// for happens or its deadline passes. A fleet of 16,384 workers each with a
// task long-poll open is 16,384 entries here, not 16,384 server threads.
//
// Not thread-safe: the owner keeps a WaitList under its own mutex, takes the
// waiters out under that mutex, and runs their callbacks after releasing it,
// so that a callback never runs with the owner's lock held.
#ifndef TOKENMETER_COORDINATOR_WAIT_LIST_H_
#define TOKENMETER_COORDINATOR_WAIT_LIST_H_

#include <cstdint>
#include <map>
#include <optional>
#include <utility>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace tokenmeter::coordinator {

template <typename Key, typename Waiter>
class WaitList {
 public:
  void Add(const Key& key, absl::Time deadline, Waiter waiter) {
    const uint64_t id = next_id_++;
    auto by_key = by_key_.emplace(key, id);
    auto by_deadline = by_deadline_.emplace(deadline, id);
    entries_.emplace(id, Entry{std::move(waiter), by_key, by_deadline});
  }

  // Removes and returns the waiters on key for which wanted(waiter) holds,
  // oldest first.
  template <typename Predicate>
  std::vector<Waiter> TakeIf(const Key& key, Predicate wanted) {
    std::vector<Waiter> taken;
    auto [it, end] = by_key_.equal_range(key);
    while (it != end) {
      auto entry = entries_.find(it->second);
      ++it;
      if (wanted(entry->second.waiter)) taken.push_back(Remove(entry));
    }
    return taken;
  }
  std::vector<Waiter> Take(const Key& key) {
    return TakeIf(key, [](const Waiter&) { return true; });
  }

  // Removes and returns every waiter whose deadline is at or before now.
  std::vector<std::pair<Key, Waiter>> TakeExpired(absl::Time now) {
    std::vector<std::pair<Key, Waiter>> taken;
    while (!by_deadline_.empty() && by_deadline_.begin()->first <= now) {
      auto entry = entries_.find(by_deadline_.begin()->second);
      Key key = entry->second.by_key->first;
      taken.emplace_back(std::move(key), Remove(entry));
    }
    return taken;
  }
  std::vector<std::pair<Key, Waiter>> TakeAll() { return TakeExpired(absl::InfiniteFuture()); }

  // The earliest deadline held; InfiniteFuture when empty.
  absl::Time NextDeadline() const {
    return by_deadline_.empty() ? absl::InfiniteFuture() : by_deadline_.begin()->first;
  }
  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }

 private:
  struct Entry {
    Waiter waiter;
    typename std::multimap<Key, uint64_t>::iterator by_key;
    typename std::multimap<absl::Time, uint64_t>::iterator by_deadline;
  };

  Waiter Remove(typename std::map<uint64_t, Entry>::iterator entry) {
    Waiter waiter = std::move(entry->second.waiter);
    by_key_.erase(entry->second.by_key);
    by_deadline_.erase(entry->second.by_deadline);
    entries_.erase(entry);
    return waiter;
  }

  uint64_t next_id_ = 0;
  std::map<uint64_t, Entry> entries_;  // by id: insertion order within a key
  std::multimap<Key, uint64_t> by_key_;
  std::multimap<absl::Time, uint64_t> by_deadline_;
};

// Runs an asynchronous wait on the calling thread, for callers that have a
// thread to spare (tools, tests): start(done) begins the wait; when nothing
// has answered by the deadline, expire(now) makes the owner answer it.
template <typename Result, typename Start, typename Expire>
Result BlockUntilAnswered(absl::Time deadline, Start start, Expire expire) {
  absl::Notification answered;
  std::optional<Result> result;
  start([&](Result r) {
    result.emplace(std::move(r));
    answered.Notify();
  });
  if (!answered.WaitForNotificationWithDeadline(deadline)) expire(absl::Now());
  answered.WaitForNotification();
  return *std::move(result);
}

}  // namespace tokenmeter::coordinator

#endif  // TOKENMETER_COORDINATOR_WAIT_LIST_H_
