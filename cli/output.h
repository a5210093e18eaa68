// How results are shown: human tables on stdout (nccl-tests' layout for
// collectives: '#' header and units rows, a closing average and an OK/FAILED
// verdict) or JSON Lines, one object per row with a "schema" field.
#ifndef TOKENMETER_CLI_OUTPUT_H_
#define TOKENMETER_CLI_OUTPUT_H_

#include <ostream>
#include <string>
#include <vector>

#include "tokenmeter/v1/coordinator.pb.h"

namespace tokenmeter::cli {

// The JSON Lines schema version; bumped when a key changes meaning.
inline constexpr int kJsonSchema = 1;

enum class Format { kTable, kJson, kCsv };

// A time as every record prints it: "2026-12-04T21:45:51Z" (UTC, seconds).
std::string IsoTime(const google::protobuf::Timestamp& t);

// One CSV cell (RFC 4180): as it is, or quoted when it holds a comma, a
// quote or a newline.
std::string CsvQuote(const std::string& cell);

// Whether every check in the result passed (GEMMs verified, no wrong
// collective element).
bool ResultPassed(const v1::JobResult& result);

// A job's result in full: its GEMM table, its collective tables, its
// train-step figures.
void PrintJobResult(const v1::JobResult& result, Format format, std::ostream& out);

// Every timed iteration of every rank, one row each, in the order measured:
// rank, worker, what was timed (a GEMM shape and dtype, a collective and
// size, or a training step), the iteration's index and its seconds. The
// figures of PrintJobResult are summaries of these.
void PrintIterations(const v1::JobResult& result, Format format, std::ostream& out);

// One line per stored result (results and compare subcommands).
void PrintResultSummaries(const std::vector<v1::JobResult>& results, Format format, std::ostream& out);

// The fleet and the jobs (status subcommand).
void PrintStatus(const std::vector<v1::WorkerStatus>& workers, const std::vector<v1::JobStatus>& jobs, Format format,
                 std::ostream& out);

}  // namespace tokenmeter::cli

#endif  // TOKENMETER_CLI_OUTPUT_H_
