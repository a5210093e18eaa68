// Reads the CLI's JSON Lines output back with protobuf's JSON reader.
#ifndef TOKENMETER_TESTS_INTEGRATION_JSON_LINES_H_
#define TOKENMETER_TESTS_INTEGRATION_JSON_LINES_H_

#include <sstream>
#include <string>
#include <vector>

#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace tokenmeter::testing {

inline std::vector<google::protobuf::Struct> ParseJsonLines(const std::string& text) {
  std::vector<google::protobuf::Struct> rows;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    google::protobuf::Struct s;
    if (google::protobuf::util::JsonStringToMessage(line, &s).ok()) rows.push_back(std::move(s));
  }
  return rows;
}

inline std::string Str(const google::protobuf::Struct& s, const std::string& key) {
  auto it = s.fields().find(key);
  return it == s.fields().end() ? "" : it->second.string_value();
}
inline double Num(const google::protobuf::Struct& s, const std::string& key) {
  auto it = s.fields().find(key);
  return it == s.fields().end() ? -1 : it->second.number_value();
}

}  // namespace tokenmeter::testing

#endif  // TOKENMETER_TESTS_INTEGRATION_JSON_LINES_H_
