// Reads the CLI's JSON Lines output back: values with protobuf's JSON reader,
// the key order (which that reader forgets) with TopLevelKeys.
#ifndef TOKENMETER_TESTS_INTEGRATION_JSON_LINES_H_
#define TOKENMETER_TESTS_INTEGRATION_JSON_LINES_H_

#include <algorithm>
#include <map>
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

// The top-level keys of one JSON object line, in the order written (the
// Struct of ParseJsonLines keeps none). REQUIRES: `line` is valid JSON.
inline std::vector<std::string> TopLevelKeys(const std::string& line) {
  std::vector<std::string> keys;
  int depth = 0;
  bool in_string = false;
  std::string current;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (in_string) {
      if (c == '\\') {
        current += line[++i];
      } else if (c == '"') {
        in_string = false;
        if (depth == 1 && i + 1 < line.size() && line[i + 1] == ':') keys.push_back(current);
      } else {
        current += c;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
      current.clear();
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return keys;
}

// The timed training steps' time of the rank whose steps took longest in
// all, from `results --job ID --iterations --json`: Σ of its "train_step"
// iteration rows. A rank's energy window spans its own timed steps, so a
// job's energy on a shared counter is the watts × this, not × the per-step
// slowest-rank time: a stall on one rank after the step's last collective
// lengthens its step and the other rank's next one (it waits there), so
// the per-step maxima count the stall twice while no window holds it twice.
inline double LongestRankTrainStepSeconds(const std::string& iterations_json_lines) {
  std::map<double, double> seconds_by_rank;
  for (const auto& row : ParseJsonLines(iterations_json_lines)) {
    if (Str(row, "kind") == "train_step") seconds_by_rank[Num(row, "rank")] += Num(row, "seconds");
  }
  double longest = 0;
  for (const auto& [rank, seconds] : seconds_by_rank) longest = std::max(longest, seconds);
  return longest;
}

}  // namespace tokenmeter::testing

#endif  // TOKENMETER_TESTS_INTEGRATION_JSON_LINES_H_
