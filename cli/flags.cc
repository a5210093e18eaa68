#include "cli/flags.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace tokenmeter::cli {

FlagSet::FlagSet(std::string command, std::string synopsis)
    : command_(std::move(command)), synopsis_(std::move(synopsis)) {}

void FlagSet::Value(std::string name, std::string value_name, std::string help, std::string fallback) {
  flags_.push_back({std::move(name), std::move(value_name), std::move(help), std::move(fallback)});
}

void FlagSet::Switch(std::string name, std::string help) {
  flags_.push_back({std::move(name), "", std::move(help), ""});
}

const FlagSet::Flag* FlagSet::Find(absl::string_view name) const {
  for (const auto& f : flags_) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

absl::Status FlagSet::Parse(const std::vector<std::string>& args) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--help" || arg == "-h") {
      help_requested_ = true;
      continue;
    }
    if (!absl::StartsWith(arg, "--") && !positional_name_.empty() && !positional_) {
      positional_ = arg;
      continue;
    }
    if (!absl::StartsWith(arg, "--")) {
      return absl::InvalidArgumentError(
          absl::StrCat("unexpected argument '", arg, "' (see tokenmeter ", command_, " --help)"));
    }
    std::string name = arg.substr(2);
    std::optional<std::string> inline_value;
    if (auto eq = name.find('='); eq != std::string::npos) {
      inline_value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    const Flag* flag = Find(name);
    if (flag == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown flag --", name, " for '", command_, "' (see tokenmeter ", command_, " --help)"));
    }
    std::string value;
    if (flag->value_name.empty()) {
      if (inline_value) return absl::InvalidArgumentError(absl::StrCat("--", name, " takes no value"));
      value = "true";
    } else if (inline_value) {
      value = *inline_value;
    } else {
      if (i + 1 >= args.size()) {
        return absl::InvalidArgumentError(absl::StrCat("--", name, " needs a value (", flag->value_name, ")"));
      }
      value = args[++i];
    }
    // A repeated flag accumulates, separated by newlines (see GetAll).
    auto [it, inserted] = values_.try_emplace(name, value);
    if (!inserted) it->second += "\n" + value;
  }
  return absl::OkStatus();
}

std::string FlagSet::Help() const {
  std::string out = absl::StrCat("usage: tokenmeter ", command_, " ", synopsis_, "\n\nflags:\n");
  for (const auto& f : flags_) {
    std::string left = absl::StrCat("  --", f.name, f.value_name.empty() ? "" : " " + f.value_name);
    absl::StrAppend(&out, absl::StrFormat("%-34s %s", left, f.help));
    if (!f.fallback.empty()) absl::StrAppend(&out, " (default: ", f.fallback, ")");
    absl::StrAppend(&out, "\n");
  }
  if (!positional_name_.empty()) {
    absl::StrAppend(&out, absl::StrFormat("%-34s %s\n", absl::StrCat("  ", positional_name_), positional_help_));
  }
  absl::StrAppend(&out, absl::StrFormat("%-34s %s\n", "  --help", "show this help"));
  return out;
}

void FlagSet::Positional(std::string value_name, std::string help) {
  positional_name_ = std::move(value_name);
  positional_help_ = std::move(help);
}

bool FlagSet::Has(absl::string_view name) const { return values_.find(name) != values_.end(); }

bool FlagSet::GetSwitch(absl::string_view name) const { return Has(name); }

std::optional<std::string> FlagSet::Get(absl::string_view name) const {
  if (auto it = values_.find(name); it != values_.end()) {
    // The last of repeated values wins for single-valued reads.
    auto nl = it->second.rfind('\n');
    return nl == std::string::npos ? it->second : it->second.substr(nl + 1);
  }
  const Flag* flag = Find(name);
  if (flag != nullptr && !flag->fallback.empty()) return flag->fallback;
  return std::nullopt;
}

std::vector<std::string> FlagSet::GetAll(absl::string_view name) const {
  std::vector<std::string> out;
  auto it = values_.find(name);
  if (it == values_.end()) {
    if (auto v = Get(name)) out.push_back(*v);
    return out;
  }
  size_t start = 0;
  while (true) {
    auto nl = it->second.find('\n', start);
    out.push_back(it->second.substr(start, nl == std::string::npos ? std::string::npos : nl - start));
    if (nl == std::string::npos) break;
    start = nl + 1;
  }
  return out;
}

absl::StatusOr<std::string> FlagSet::Require(absl::string_view name) const {
  auto v = Get(name);
  if (!v || v->empty()) return absl::InvalidArgumentError(absl::StrCat("--", name, " is required"));
  return *v;
}

absl::StatusOr<int64_t> FlagSet::GetInt(absl::string_view name, int64_t min, int64_t max) const {
  auto v = Require(name);
  if (!v.ok()) return v.status();
  return ParseInt(*v, absl::StrCat("--", name), min, max);
}

absl::StatusOr<double> FlagSet::GetDouble(absl::string_view name, double min, double max) const {
  auto v = Require(name);
  if (!v.ok()) return v.status();
  return ParseDouble(*v, absl::StrCat("--", name), min, max);
}

absl::StatusOr<double> ParseDouble(absl::string_view text, absl::string_view what, double min, double max) {
  const std::string s(absl::StripAsciiWhitespace(text));
  char* end = nullptr;
  errno = 0;
  const double v = s.empty() ? 0 : std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size() || errno == ERANGE || !std::isfinite(v)) {
    return absl::InvalidArgumentError(absl::StrCat(what, " must be a number, got '", text, "'"));
  }
  if (v < min || v > max) {
    return absl::InvalidArgumentError(absl::StrCat(what, " must be in [", min, ", ", max, "], got '", text, "'"));
  }
  return v;
}

absl::StatusOr<int64_t> ParseInt(absl::string_view text, absl::string_view what, int64_t min, int64_t max) {
  auto v = ParseDouble(text, what, -9.2e18, 9.2e18);
  if (!v.ok() || *v != std::floor(*v) || *v < static_cast<double>(min) || *v > static_cast<double>(max)) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " must be an integer in [", min, ", ", max, "], got '", text, "'"));
  }
  return static_cast<int64_t>(*v);
}

absl::StatusOr<int64_t> ParseBytes(absl::string_view text, absl::string_view what, int64_t min, int64_t max) {
  std::string s(absl::StripAsciiWhitespace(text));
  double scale = 1;
  if (!s.empty()) {
    switch (absl::ascii_toupper(s.back())) {
      case 'K': scale = 1024.0; break;
      case 'M': scale = 1024.0 * 1024; break;
      case 'G': scale = 1024.0 * 1024 * 1024; break;
      case 'T': scale = 1024.0 * 1024 * 1024 * 1024; break;
      default: break;
    }
    if (scale != 1) s.pop_back();
  }
  auto v = ParseDouble(s, what, 0, 9e18);
  const double bytes = v.ok() ? *v * scale : -1;
  if (!v.ok() || bytes != std::floor(bytes) || bytes < static_cast<double>(min) || bytes > static_cast<double>(max)) {
    return absl::InvalidArgumentError(absl::StrCat(what, " must be a byte count in [", min, ", ", max,
                                                   "] (suffixes K, M, G, T = KiB, MiB, GiB, TiB), got '", text, "'"));
  }
  return static_cast<int64_t>(bytes);
}

}  // namespace tokenmeter::cli
