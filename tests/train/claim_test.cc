// The claim check on DeepSeek-V3's published pre-training figures.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "workload/claim.h"
#include "workload/models.h"

namespace tokenmeter::workload {
namespace {

using ::testing::HasSubstr;

ClaimInput DeepSeekV3() {
  ClaimInput in;
  auto step = TrainStepPreset("deepseek-v3");
  EXPECT_TRUE(step.ok());
  in.model = step->model();
  in.tokens = 14.8e12;        // pre-training tokens (technical report)
  in.device_hours = 2.664e6;  // H800 GPU-hours of pre-training
  in.device = "H800";
  in.price_per_device_hour = 2.0;  // the report's rental assumption
  return in;
}

TEST(Claim, DeepSeekV3ImpliedMfu) {
  auto f = CheckClaim(DeepSeekV3());
  ASSERT_TRUE(f.ok()) << f.status();
  // By hand: N = 3·(MLA 187,105,280 + dense FFN 396,361,728)
  //            + 58·(MLA + router 1,835,008 + 9 experts · 44,040,192)
  //            + head 129,280·7,168 = 36,624,596,992;
  // FLOPs/token = 6N + 6·61·128·(192+128)·4096 = 2.81152e11.
  // Implied MFU = 2.81152e11 · 14.8e12 / (2.664e6 · 3600 · 989.5e12 bf16 peak)
  //             = 4.16105e24 / 9.48970e24 = 0.4385.
  EXPECT_NEAR(f->flops_per_token, 2.81152e11, 0.00001e11);
  EXPECT_NEAR(f->implied_mfu, 0.4385, 0.0005);  // 3 significant figures: 0.438
  EXPECT_DOUBLE_EQ(f->peak_flops_per_device, 989.5e12);
  EXPECT_EQ(f->device_model, "NVIDIA H800 SXM");
  EXPECT_DOUBLE_EQ(f->implied_cost_dollars, 2.664e6 * 2.0);  // $5.328M
  EXPECT_NEAR(f->total_flops, 2.81152e11 * 14.8e12, 1e19);
}

TEST(Claim, Fp8PeakHalvesTheMfu) {
  ClaimInput in = DeepSeekV3();
  in.dtype = v1::DTYPE_FP8_E4M3;
  auto f = CheckClaim(in);
  ASSERT_TRUE(f.ok()) << f.status();
  // Same FLOPs against 1979e12: 0.4385 / 2.
  EXPECT_NEAR(f->implied_mfu, 0.2192, 0.0005);
  // Beside it, the other training dtypes' readings: bf16 and fp16 (989.5e12
  // each on the H800), the 0.4385 of the bf16 test above; tf32 and fp32 are
  // left out (a 4.16e24-FLOP run against them reads above 100%).
  ASSERT_EQ(f->other_readings.size(), 2u);
  EXPECT_EQ(f->other_readings[0].dtype, v1::DTYPE_BF16);
  EXPECT_DOUBLE_EQ(f->other_readings[0].peak_flops_per_device, 989.5e12);
  EXPECT_NEAR(f->other_readings[0].implied_mfu, 0.4385, 0.0005);
  EXPECT_DOUBLE_EQ(f->other_readings[0].implied_mfu, f->implied_mfu * 1979e12 / 989.5e12);
  EXPECT_EQ(f->other_readings[1].dtype, v1::DTYPE_FP16);
  // And from bf16, fp8 is the other reading, at half.
  auto bf16 = CheckClaim(DeepSeekV3());
  ASSERT_TRUE(bf16.ok());
  ASSERT_FALSE(bf16->other_readings.empty());
  EXPECT_EQ(bf16->other_readings[0].dtype, v1::DTYPE_FP8_E4M3);
  EXPECT_DOUBLE_EQ(bf16->other_readings[0].implied_mfu, f->implied_mfu);
}

TEST(Claim, AtAMeasuredMfu) {
  ClaimInput in = DeepSeekV3();
  in.measured_mfu = 0.40;
  auto f = CheckClaim(in);
  ASSERT_TRUE(f.ok()) << f.status();
  // total FLOPs / (0.40 · 989.5e12) / 3600 = 2.920e6 device-hours.
  EXPECT_NEAR(f->device_hours_at_measured, f->total_flops / (0.40 * 989.5e12) / 3600, 1);
  EXPECT_NEAR(f->device_hours_at_measured, 2.920e6, 0.001e6);
  EXPECT_NEAR(f->cost_at_measured_dollars, 2 * f->device_hours_at_measured, 1e-3);
  EXPECT_NEAR(f->implied_over_measured, 0.4385 / 0.40, 0.002);
}

TEST(Claim, UnknownDeviceIsAnErrorNotAFallback) {
  ClaimInput in = DeepSeekV3();
  in.device = "NVIDIA H100 PCIe";
  auto f = CheckClaim(in);
  EXPECT_EQ(f.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(f.status().message()), HasSubstr("claim.device"));
  in.peak_flops_per_device = 756e12;  // a peak given by the user is used as is
  f = CheckClaim(in);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_DOUBLE_EQ(f->peak_flops_per_device, 756e12);
}

TEST(Claim, NoPeakForTheDtype) {
  ClaimInput in = DeepSeekV3();
  in.device = "A100";
  in.dtype = v1::DTYPE_FP8_E4M3;
  auto f = CheckClaim(in);
  EXPECT_EQ(f.status().code(), absl::StatusCode::kNotFound);
  // Names the field and what the device does have.
  EXPECT_THAT(std::string(f.status().message()), HasSubstr("claim.dtype"));
  EXPECT_THAT(std::string(f.status().message()), HasSubstr("(it has: fp32, tf32, fp16, bf16)"));
}

TEST(Claim, InputsNameTheirField) {
  ClaimInput in = DeepSeekV3();
  in.tokens = 0;
  EXPECT_THAT(std::string(CheckClaim(in).status().message()), HasSubstr("claim.tokens (0)"));
  in = DeepSeekV3();
  in.device_hours = -1;
  EXPECT_THAT(std::string(CheckClaim(in).status().message()), HasSubstr("claim.device_hours (-1)"));
  in = DeepSeekV3();
  in.model.set_heads(0);
  EXPECT_THAT(std::string(CheckClaim(in).status().message()), HasSubstr("model.heads (0)"));
}

}  // namespace
}  // namespace tokenmeter::workload
