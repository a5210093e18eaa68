#include "cli/json_line.h"

#include "absl/strings/str_cat.h"
#include "cli/output.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/type_resolver_util.h"

namespace tokenmeter::cli {
namespace {

std::string Json(const google::protobuf::Value& value) {
  std::string json;
  (void)google::protobuf::util::MessageToJsonString(value, &json);
  return json;
}

}  // namespace

std::string CanonicalJson(const google::protobuf::Message& message) {
  std::string binary;
  {
    google::protobuf::io::StringOutputStream stream(&binary);
    google::protobuf::io::CodedOutputStream out(&stream);
    out.SetSerializationDeterministic(true);
    message.SerializeToCodedStream(&out);
  }
  const google::protobuf::DescriptorPool* pool = message.GetDescriptor()->file()->pool();
  static const std::string kPrefix = "type.googleapis.com";
  // One resolver per pool for the life of the process (the generated pool, in practice).
  static auto* resolver = google::protobuf::util::NewTypeResolverForDescriptorPool(kPrefix, pool);
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  std::string json;
  (void)google::protobuf::util::BinaryToJsonString(
      resolver, absl::StrCat(kPrefix, "/", message.GetDescriptor()->full_name()), binary, &json, options);
  return json;
}

JsonLine::JsonLine() { Add("schema", static_cast<double>(kJsonSchema)); }

JsonLine& JsonLine::AddRaw(const std::string& key, const std::string& json) {
  google::protobuf::Value name;
  name.set_string_value(key);
  absl::StrAppend(&body_, body_.empty() ? "" : ",", Json(name), ":", json);
  return *this;
}

JsonLine& JsonLine::Add(const std::string& key, const std::string& value) {
  google::protobuf::Value v;
  v.set_string_value(value);
  return AddRaw(key, Json(v));
}

JsonLine& JsonLine::Add(const std::string& key, double value) {
  google::protobuf::Value v;
  v.set_number_value(value);
  return AddRaw(key, Json(v));
}

JsonLine& JsonLine::Add(const std::string& key, bool value) {
  google::protobuf::Value v;
  v.set_bool_value(value);
  return AddRaw(key, Json(v));
}

JsonLine& JsonLine::Add(const std::string& key, const std::vector<JsonLine>& records) {
  std::string json = "[";
  for (size_t i = 0; i < records.size(); ++i) {
    // A nested record drops the schema its constructor put first.
    const std::string& body = records[i].body_;
    const size_t comma = body.find(',');
    absl::StrAppend(&json, i == 0 ? "" : ",", "{", comma == std::string::npos ? "" : body.substr(comma + 1), "}");
  }
  json += "]";
  return AddRaw(key, json);
}

std::string JsonLine::str() const { return absl::StrCat("{", body_, "}"); }

void JsonLine::WriteTo(std::ostream& out) const { out << str() << "\n"; }

}  // namespace tokenmeter::cli
