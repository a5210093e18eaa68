// Protobuf's JSON reader as tokenmeter reads every text a user writes (spec
// files, catalogues, health rules and baselines, imported records): unknown
// fields are errors, because a misspelt field must not become a silent
// default. The one place that sets that option.
#ifndef TOKENMETER_WORKLOAD_STRICT_JSON_H_
#define TOKENMETER_WORKLOAD_STRICT_JSON_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/message.h"

namespace tokenmeter::workload {

// Parses `json` into `message`. InvalidArgument "<what>: <the reader's
// message, naming the field>".
absl::Status ParseStrictJson(absl::string_view json, absl::string_view what, google::protobuf::Message* message);

// Reads the file at `path` and parses it as above. NotFound "cannot read
// <what> file '<path>'"; InvalidArgument "<path>: <what>: <the reader's
// message>".
absl::Status ReadStrictJsonFile(const std::string& path, absl::string_view what, google::protobuf::Message* message);

}  // namespace tokenmeter::workload

#endif  // TOKENMETER_WORKLOAD_STRICT_JSON_H_
