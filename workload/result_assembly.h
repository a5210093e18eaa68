// Combining what the ranks of a job measured into the job's figures.
#ifndef TOKENMETER_WORKLOAD_RESULT_ASSEMBLY_H_
#define TOKENMETER_WORKLOAD_RESULT_ASSEMBLY_H_

#include <string>
#include <vector>

#include "absl/status/status.h"

#include "tokenmeter/v1/result.pb.h"
#include "tokenmeter/v1/workload.pb.h"
#include "workload/catalogue.h"

namespace tokenmeter::workload {

// The setup name of a job: the workers' common setup, or their distinct
// setups joined with "+" (a job spanning setups is a setup of its own).
std::string JobSetupName(const std::vector<v1::WorkerInventory>& inventory);

// What assembly needs beyond the ranks' measurements.
struct AssemblyContext {
  // The measured maximum achievable matmul FLOP/s per device on this setup in
  // the train step's dtype (the best stored `gemm` row); 0 = not measured.
  double mamf_flops_per_device = 0;
  // Where datasheet peaks and default prices come from; null = the built-in
  // catalogue. Not owned.
  const DeviceCatalogue* catalogue = nullptr;
  // worker_ids[i] is the worker that registered inventory[i]: each rank is
  // priced at its own worker's price (RankResult.worker_id). Empty, or a rank
  // of another worker: the first inventory that has a price.
  std::vector<std::string> worker_ids;
};

// Builds a job's result from its ranks' measurements. A job is as fast as its
// slowest rank: each GEMM shape and collective size takes the measurement of
// the rank with the highest median time, with every iteration of that rank
// kept; wrong elements add up over ranks; a GEMM row counts as verified only
// when every rank verified it. mamf_tflops is the best job-level GEMM row.
// A train step's time per iteration is the slowest rank's; its figures follow
// workload/cost.h, against the catalogue's datasheet peak for the device (a
// CPU's peak is its ranks' calibration GEMM, labelled as measured), each
// device at the price its worker registered (else the catalogue's default;
// the cost sums the devices' prices) and the ranks' energy
// summed over devices: ranks on one device (by UUID; CPU ranks on one host,
// whose RAPL energy is the whole host's) count it once, at its largest
// reading; energy is unknown (0) unless every rank reports it. `ranks` need not be sorted. Timestamps and version are left to the
// caller.
v1::JobResult AssembleJobResult(const std::string& job_id, const v1::WorkloadSpec& spec,
                                const std::vector<v1::WorkerInventory>& inventory, std::vector<v1::RankResult> ranks,
                                const AssemblyContext& context = {});

// Checks that a rank's report has no more rows and iterations than `spec`
// asks of `ranks` ranks: GEMM rows ≤ shapes × dtypes, collective rows ≤ the
// sizes of every op, iterations per row or step ≤ timed_iterations. A report
// from a worker is outside input: this bounds what one can make the
// coordinator store. InvalidArgument naming the field and the bound.
absl::Status CheckReportShape(const v1::WorkloadSpec& spec, int ranks, const v1::RankResult& report);

}  // namespace tokenmeter::workload

#endif  // TOKENMETER_WORKLOAD_RESULT_ASSEMBLY_H_
