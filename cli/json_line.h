// One JSON Lines record as the CLI prints it: `schema` first, then the keys
// in the order they were added, the same on every run (people diff, grep and
// eyeball these lines). Values are written by protobuf's own JSON printer, so
// strings are escaped and numbers formatted exactly as before; this class
// decides only the order.
#ifndef TOKENMETER_CLI_JSON_LINE_H_
#define TOKENMETER_CLI_JSON_LINE_H_

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

namespace google::protobuf {
class Message;
}

namespace tokenmeter::cli {

// `message` in protobuf's JSON mapping with its .proto field names, one line,
// the same text every time for the same content (maps in key order: the
// plain printer follows the hash order of the message at hand, so a message
// read back from its own line could print differently).
std::string CanonicalJson(const google::protobuf::Message& message);

class JsonLine {
 public:
  // Starts the record with {"schema": kJsonSchema.
  JsonLine();

  // Appends `key` with a value. REQUIRES: key is not already in the record.
  JsonLine& Add(const std::string& key, const std::string& value);
  JsonLine& Add(const std::string& key, const char* value) { return Add(key, std::string(value)); }
  JsonLine& Add(const std::string& key, double value);
  JsonLine& Add(const std::string& key, int value) { return Add(key, static_cast<double>(value)); }
  JsonLine& Add(const std::string& key, int64_t value) { return Add(key, static_cast<double>(value)); }
  JsonLine& Add(const std::string& key, bool value);
  // Appends `key` with an array of records (without their own schema).
  JsonLine& Add(const std::string& key, const std::vector<JsonLine>& records);

  // The record, one line, no newline.
  std::string str() const;
  // Writes str() and a newline.
  void WriteTo(std::ostream& out) const;

 private:
  JsonLine& AddRaw(const std::string& key, const std::string& json);
  std::string body_;  // `"key":value` pairs, comma-separated, schema first
};

}  // namespace tokenmeter::cli

#endif  // TOKENMETER_CLI_JSON_LINE_H_
