// Identifiers for workers and jobs: unique across coordinator restarts and
// sortable by creation time.
#ifndef TOKENMETER_COORDINATOR_IDS_H_
#define TOKENMETER_COORDINATOR_IDS_H_

#include <string>

#include "absl/time/time.h"

namespace tokenmeter::coordinator {

// "job-20261129-074501-3f9a2c". Thread-safe.
std::string NewJobId(absl::Time now);
// "w-<host>-3f9a2c". Thread-safe.
std::string NewWorkerId(const std::string& hostname);

}  // namespace tokenmeter::coordinator

#endif  // TOKENMETER_COORDINATOR_IDS_H_
