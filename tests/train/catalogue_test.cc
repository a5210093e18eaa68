// Device lookup by the names drivers and people use; no fallback between
// devices; user catalogue files.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "workload/catalogue.h"

namespace tokenmeter::workload {
namespace {

using ::testing::HasSubstr;

std::string ModelOf(const char* name) {
  const DeviceSpec* d = FindDevice(name);
  return d == nullptr ? "<none>" : d->model;
}

TEST(Catalogue, NamesAsDriversReportThem) {
  EXPECT_EQ(ModelOf("NVIDIA H200"), "NVIDIA H200");
  EXPECT_EQ(ModelOf("H200"), "NVIDIA H200");
  EXPECT_EQ(ModelOf("nvidia h200"), "NVIDIA H200");
  EXPECT_EQ(ModelOf("NVIDIA H100 80GB HBM3"), "NVIDIA H100 SXM");
  EXPECT_EQ(ModelOf("H100-SXM5"), "NVIDIA H100 SXM");
  EXPECT_EQ(ModelOf("H800"), "NVIDIA H800 SXM");
  EXPECT_EQ(ModelOf("NVIDIA A100-SXM4-80GB"), "NVIDIA A100 SXM 80GB");
  EXPECT_EQ(ModelOf("NVIDIA B200"), "NVIDIA B200");
  EXPECT_EQ(ModelOf("AMD Instinct MI300X"), "AMD Instinct MI300X");
  EXPECT_EQ(ModelOf("mi300x"), "AMD Instinct MI300X");
  EXPECT_EQ(ModelOf("AMD Instinct MI325X"), "AMD Instinct MI325X");
  EXPECT_EQ(ModelOf("Intel(R) Data Center GPU Max 1550"), "Intel Data Center GPU Max 1550");  // Level Zero's name
  EXPECT_EQ(ModelOf("Intel Gaudi 3"), "Intel Gaudi 3");
  EXPECT_EQ(ModelOf("HL-325L"), "Intel Gaudi 3");  // hl-smi's name of the OAM part
}

// The vendor-comparison entries: datasheet peaks, and nothing where the
// datasheet (as entered) gives none.
TEST(Catalogue, OtherVendorsPeaksAreTheirDatasheets) {
  const DeviceSpec* mi325x = FindDevice("MI325X");
  ASSERT_NE(mi325x, nullptr);
  EXPECT_DOUBLE_EQ(mi325x->PeakFlops(v1::DTYPE_BF16), 1307.4e12);
  EXPECT_DOUBLE_EQ(mi325x->memory_bandwidth_bytes_per_s, 6e12);
  EXPECT_EQ(mi325x->memory_bytes, 256000000000);
  const DeviceSpec* max1550 = FindDevice("Intel Data Center GPU Max 1550");
  ASSERT_NE(max1550, nullptr);
  EXPECT_DOUBLE_EQ(max1550->PeakFlops(v1::DTYPE_BF16), 838.9e12);
  EXPECT_DOUBLE_EQ(max1550->PeakFlops(v1::DTYPE_FP32), 52.4e12);
  EXPECT_DOUBLE_EQ(max1550->PeakFlops(v1::DTYPE_FP8_E4M3), 0);  // no fp8 on Ponte Vecchio
  const DeviceSpec* gaudi3 = FindDevice("Gaudi 3");
  ASSERT_NE(gaudi3, nullptr);
  EXPECT_DOUBLE_EQ(gaudi3->PeakFlops(v1::DTYPE_BF16), 1835e12);
  EXPECT_DOUBLE_EQ(gaudi3->PeakFlops(v1::DTYPE_FP8_E4M3), 1835e12);
  EXPECT_DOUBLE_EQ(gaudi3->PeakFlops(v1::DTYPE_FP16), 0);
  for (const DeviceSpec* d : {mi325x, max1550, gaudi3}) {
    EXPECT_FALSE(d->source.empty()) << d->model;
    EXPECT_EQ(d->price_per_device_hour, 0) << d->model << ": no default price without a source";
  }
}

TEST(Catalogue, UnknownDevicesHaveNoSpec) {
  // Other variants of a known chip are other devices: no fallback.
  EXPECT_EQ(FindDevice("NVIDIA H100 PCIe"), nullptr);
  EXPECT_EQ(FindDevice("NVIDIA H100 NVL"), nullptr);
  EXPECT_EQ(FindDevice("NVIDIA A100-PCIE-40GB"), nullptr);
  EXPECT_EQ(FindDevice("Tesla T4"), nullptr);
  EXPECT_EQ(FindDevice("AMD Ryzen 9 7950X"), nullptr);
  EXPECT_EQ(FindDevice(""), nullptr);
  EXPECT_EQ(FindDevice("NVIDIA"), nullptr);
}

TEST(Catalogue, DensePeaksWithSources) {
  const DeviceSpec* h100 = FindDevice("H100");
  ASSERT_NE(h100, nullptr);
  EXPECT_DOUBLE_EQ(h100->PeakFlops(v1::DTYPE_BF16), 989.5e12);  // 1979 sparse / 2
  EXPECT_DOUBLE_EQ(h100->PeakFlops(v1::DTYPE_FP8_E4M3), 1979e12);
  const DeviceSpec* a100 = FindDevice("A100");
  ASSERT_NE(a100, nullptr);
  EXPECT_DOUBLE_EQ(a100->PeakFlops(v1::DTYPE_BF16), 312e12);
  EXPECT_EQ(a100->PeakFlops(v1::DTYPE_FP8_E4M3), 0);  // no fp8 on Ampere
  EXPECT_DOUBLE_EQ(FindDevice("MI300X")->PeakFlops(v1::DTYPE_BF16), 1307.4e12);
  for (const DeviceSpec& d : DeviceCatalogue::BuiltIn().devices()) {
    EXPECT_FALSE(d.source.empty()) << d.model;
    EXPECT_GE(d.price_per_device_hour, 0) << d.model;  // 0: no default (the vendor-comparison entries)
    EXPECT_GT(d.PeakFlops(v1::DTYPE_BF16), d.PeakFlops(v1::DTYPE_FP32)) << d.model;
    EXPECT_GT(d.memory_bandwidth_bytes_per_s, 0) << d.model;
  }
  EXPECT_GE(DeviceCatalogue::BuiltIn().devices().size(), 6u);
}

TEST(Catalogue, NormalizesNames) {
  EXPECT_EQ(NormalizeDeviceName("NVIDIA  A100-SXM4_80GB "), "a100 sxm4 80gb");
  EXPECT_EQ(NormalizeDeviceName("AMD Instinct MI300X"), "mi300x");
}

std::string WriteFile(const std::string& text) {
  const std::string path = testing::TempDir() + "/catalogue_" +
                           testing::UnitTest::GetInstance()->current_test_info()->name() + ".json";
  std::ofstream(path) << text;
  return path;
}

TEST(Catalogue, FileOverridesAndAdds) {
  const std::string path = WriteFile(R"({"devices": [
      {"model": "H100", "price_per_device_hour": 2.1},
      {"model": "Acme X1", "aliases": ["x1"], "peak_dense_flops": {"bf16": 5e14},
       "price_per_device_hour": 1.0, "source": "Acme X1 datasheet"}]})");
  auto c = LoadCatalogueFile(path);
  ASSERT_TRUE(c.ok()) << c.status();
  const DeviceSpec* h100 = c->Find("NVIDIA H100 80GB HBM3");
  ASSERT_NE(h100, nullptr);
  EXPECT_DOUBLE_EQ(h100->price_per_device_hour, 2.1);
  EXPECT_DOUBLE_EQ(h100->PeakFlops(v1::DTYPE_BF16), 989.5e12);  // untouched
  const DeviceSpec* x1 = c->Find("acme-x1");
  ASSERT_NE(x1, nullptr);
  EXPECT_DOUBLE_EQ(x1->PeakFlops(v1::DTYPE_BF16), 5e14);
  EXPECT_EQ(c->Find("X1"), x1);
  // The built-in catalogue is unchanged.
  EXPECT_DOUBLE_EQ(FindDevice("H100")->price_per_device_hour, 3.0);
  std::remove(path.c_str());
}

TEST(Catalogue, FileErrorsNameTheField) {
  auto unknown_field = LoadCatalogueFile(WriteFile(R"({"devices": [{"model": "X", "prize": 1}]})"));
  EXPECT_EQ(unknown_field.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(unknown_field.status().message()), HasSubstr("prize"));

  auto bad_dtype = DeviceCatalogue::ParseJson(
      R"({"devices": [{"model": "X", "peak_dense_flops": {"bf17": 1e12}}]})");
  EXPECT_THAT(std::string(bad_dtype.status().message()),
              HasSubstr("catalogue.devices[0].peak_dense_flops: unknown dtype \"bf17\""));

  auto negative = DeviceCatalogue::ParseJson(
      R"({"devices": [{"model": "X"}, {"model": "Y", "price_per_device_hour": -1}]})");
  EXPECT_THAT(std::string(negative.status().message()),
              HasSubstr("catalogue.devices[1].price_per_device_hour (-1) must not be negative"));

  auto clash = DeviceCatalogue::ParseJson(
      R"({"devices": [{"model": "X", "aliases": ["z"]}, {"model": "Y", "aliases": ["Z"]}]})");
  EXPECT_THAT(std::string(clash.status().message()), HasSubstr("already names X"));

  auto missing = LoadCatalogueFile("/nonexistent/catalogue.json");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace tokenmeter::workload
