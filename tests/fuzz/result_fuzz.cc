// libFuzzer target: the stored-result decoder. A results store holds each
// result as a serialized JobResult; `results`, `compare` and `run` decode
// and print it. A corrupt or hostile row must decode to an error or to a
// result that every printer (table, JSON Lines, CSV; figures, iterations,
// summaries; the HTML report) handles without crashing.
#include <cstddef>
#include <cstdint>
#include <ostream>
#include <streambuf>

#include "cli/output.h"
#include "cli/report/report_builder.h"

namespace {

// Discards what is written, so that the printers' output costs nothing.
class NullBuffer : public std::streambuf {
 protected:
  int overflow(int c) override { return c; }
  std::streamsize xsputn(const char*, std::streamsize n) override { return n; }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tokenmeter;
  v1::JobResult result;
  if (!result.ParseFromArray(data, static_cast<int>(size))) return 0;
  NullBuffer buffer;
  std::ostream out(&buffer);
  cli::ResultPassed(result);
  for (auto format : {cli::Format::kTable, cli::Format::kJson, cli::Format::kCsv}) {
    cli::PrintJobResult(result, format, out);
    cli::PrintIterations(result, format, out);
    cli::PrintResultSummaries({result, result}, format, out);
  }
  out << cli::report::BuildReport({result, result}, {});  // the HTML report (tokenmeter report)
  return 0;
}
