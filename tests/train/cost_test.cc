// The cost model's formulas (docs/cost-model.md "Definitions"), with expected values
// computed here from the formula.
#include <gtest/gtest.h>

#include "workload/cost.h"
#include "workload/flops.h"
#include "workload/models.h"

namespace tokenmeter::workload {
namespace {

TEST(Cost, PerMillionTokens) {
  // $2/device-hour, 8 devices, 10,000 tokens/s: 16 $/h buys 36e6 tokens.
  EXPECT_DOUBLE_EQ(CostPerMillionTokens(2.0, 8, 10000), 2.0 * 8 / (10000 * 3600.0) * 1e6);
  EXPECT_NEAR(CostPerMillionTokens(2.0, 8, 10000), 16.0 / 36.0, 1e-12);
  EXPECT_EQ(CostPerMillionTokens(0, 8, 10000), 0);  // unknown price
  EXPECT_EQ(CostPerMillionTokens(2.0, 8, 0), 0);
}

TEST(Cost, PerMillionTokensAtEachDevicesOwnPrice) {
  // $1.5 and $3 devices at 1000 tokens/s: 4.5 $/h buys 3.6e6 tokens.
  EXPECT_DOUBLE_EQ(CostPerMillionTokens({1.5, 3.0}, 1000), (1.5 + 3.0) / (1000 * 3600.0) * 1e6);
  EXPECT_DOUBLE_EQ(CostPerMillionTokens({2.0, 2.0}, 1000), CostPerMillionTokens(2.0, 2, 1000));
  EXPECT_EQ(CostPerMillionTokens({1.5, 0}, 1000), 0);  // one unknown price: no figure, not half of one
  EXPECT_EQ(CostPerMillionTokens(std::vector<double>{}, 1000), 0);
  EXPECT_EQ(CostPerMillionTokens({1.5}, 0), 0);
}

TEST(Cost, Mfu) {
  // 6e9 FLOPs/token at 1e5 tokens/s on 2 devices of 1e15 peak: 6e14/2e15.
  EXPECT_DOUBLE_EQ(Mfu(6e9, 1e5, 2, 1e15), 0.3);
  EXPECT_EQ(Mfu(6e9, 1e5, 2, 0), 0);  // unknown device: no datasheet MFU
}

TEST(Cost, EnergyPerToken) {
  EXPECT_DOUBLE_EQ(EnergyPerToken(1000, 4000), 0.25);
  EXPECT_EQ(EnergyPerToken(0, 4000), 0);
}

TEST(Cost, TrainStepFigures) {
  auto step = TrainStepPreset("tiny");
  ASSERT_TRUE(step.ok());
  TrainStepRun run;
  run.devices = 2;
  run.step.set_median_seconds(0.25);
  run.step.set_iterations(10);
  run.peak_flops_per_device = 100e9;
  run.peak_is_measured = true;
  run.mamf_flops_per_device = 80e9;
  run.device_prices = {0.10, 0.10};
  run.energy_joules = 5120;
  run.phase_seconds = {{"gemm", 0.15}, {"communication", 0.05}, {"elementwise", 0.05}};
  run.grad_sync_overlapped = true;
  run.grad_sync_seconds = 0.04;
  run.grad_sync_exposed_seconds = 0.01;
  auto f = ComputeTrainStepFigures(*step, run);
  ASSERT_TRUE(f.ok()) << f.status();
  // Global batch = micro_batch 2 × data 2; × seq 128 = 512 tokens per step.
  EXPECT_EQ(f->tokens_per_step(), 2 * 2 * 128);
  EXPECT_DOUBLE_EQ(f->tokens_per_second(), 512 / 0.25);
  const double fpt = ModelFlopsPerToken(step->model());
  EXPECT_DOUBLE_EQ(f->flops_per_token(), fpt);
  EXPECT_DOUBLE_EQ(f->mfu(), fpt * 2048 / (2 * 100e9));
  EXPECT_DOUBLE_EQ(f->mfu_mamf(), fpt * 2048 / (2 * 80e9));
  EXPECT_DOUBLE_EQ(f->cost_per_million_tokens_dollars(), 0.10 * 2 / (2048 * 3600.0) * 1e6);
  // 10 timed steps of 512 tokens.
  EXPECT_DOUBLE_EQ(f->energy_per_token_joules(), 5120.0 / 5120);
  EXPECT_DOUBLE_EQ(f->phase_share().at("gemm"), 0.6);
  double shares = 0;
  for (const auto& [phase, share] : f->phase_share()) shares += share;
  EXPECT_DOUBLE_EQ(shares, 1.0);
  EXPECT_TRUE(f->grad_sync_overlapped());
  EXPECT_DOUBLE_EQ(f->grad_sync_seconds(), 0.04);
  EXPECT_DOUBLE_EQ(f->grad_sync_exposed_seconds(), 0.01);
  EXPECT_TRUE(f->peak_is_measured());
  EXPECT_DOUBLE_EQ(f->params_total(), CountParams(step->model()).total);
}

TEST(Cost, TrainStepFiguresRefusesNoTime) {
  auto step = TrainStepPreset("tiny");
  TrainStepRun run;
  run.devices = 1;
  EXPECT_FALSE(ComputeTrainStepFigures(*step, run).ok());
}

}  // namespace
}  // namespace tokenmeter::workload
