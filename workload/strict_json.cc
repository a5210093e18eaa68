#include "workload/strict_json.h"

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/json_util.h"

namespace tokenmeter::workload {

absl::Status ParseStrictJson(absl::string_view json, absl::string_view what, google::protobuf::Message* message) {
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  auto s = google::protobuf::util::JsonStringToMessage(google::protobuf::StringPiece(json.data(), json.size()),
                                                       message, options);
  if (!s.ok()) return absl::InvalidArgumentError(absl::StrCat(what, ": ", s.message().as_string()));
  return absl::OkStatus();
}

absl::Status ReadStrictJsonFile(const std::string& path, absl::string_view what, google::protobuf::Message* message) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", what, " file '", path, "'"));
  std::stringstream text;
  text << in.rdbuf();
  if (auto s = ParseStrictJson(text.str(), what, message); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", s.message()));
  }
  return absl::OkStatus();
}

}  // namespace tokenmeter::workload
