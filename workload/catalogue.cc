#include "workload/catalogue.h"


#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "workload/strict_json.h"
#include "workload/figures.h"

namespace tokenmeter::workload {

namespace {

// The built-in catalogue, as data. Dense peaks: where a datasheet quotes
// tensor-core figures "with sparsity" only, the dense figure is half of it.
// Prices are defaults (public on-demand-ish rates, 2025), meant to be
// overridden per setup; docs/cost-model.md lists them.
constexpr char kBuiltInJson[] = R"json({"devices": [
  {"model": "NVIDIA H100 SXM",
   "aliases": ["h100", "h100 sxm", "h100 sxm5", "h100 sxm5 80gb", "h100 sxm 80gb", "h100 80gb hbm3"],
   "peak_dense_flops": {"fp32": 67e12, "tf32": 494.5e12, "fp16": 989.5e12, "bf16": 989.5e12,
                        "fp8_e4m3": 1979e12},
   "memory_bandwidth_bytes_per_s": 3.35e12, "interconnect_bytes_per_s": 900e9,
   "memory_bytes": 80000000000, "price_per_device_hour": 3.00,
   "source": "NVIDIA H100 Tensor Core GPU datasheet, H100 SXM column (sparse tensor figures halved)"},
  {"model": "NVIDIA H200",
   "aliases": ["h200", "h200 sxm", "h200 141gb hbm3e", "h200 sxm 141gb"],
   "peak_dense_flops": {"fp32": 67e12, "tf32": 494.5e12, "fp16": 989.5e12, "bf16": 989.5e12,
                        "fp8_e4m3": 1979e12},
   "memory_bandwidth_bytes_per_s": 4.8e12, "interconnect_bytes_per_s": 900e9,
   "memory_bytes": 141000000000, "price_per_device_hour": 3.50,
   "source": "NVIDIA H200 Tensor Core GPU datasheet, H200 SXM column (sparse tensor figures halved)"},
  {"model": "NVIDIA H800 SXM",
   "aliases": ["h800", "h800 sxm", "h800 sxm5", "h800 80gb hbm3"],
   "peak_dense_flops": {"fp32": 67e12, "tf32": 494.5e12, "fp16": 989.5e12, "bf16": 989.5e12,
                        "fp8_e4m3": 1979e12},
   "memory_bandwidth_bytes_per_s": 3.35e12, "interconnect_bytes_per_s": 400e9,
   "memory_bytes": 80000000000, "price_per_device_hour": 2.00,
   "source": "NVIDIA H800 SXM5: H100 SXM5 tensor throughput with NVLink cut to 400 GB/s (NVIDIA H800 product brief; DeepSeek-V3 technical report, section 3.1); price as DeepSeek-V3 assumes"},
  {"model": "NVIDIA A100 SXM 80GB",
   "aliases": ["a100", "a100 sxm", "a100 sxm4", "a100 sxm4 80gb", "a100 80gb sxm"],
   "peak_dense_flops": {"fp32": 19.5e12, "tf32": 156e12, "fp16": 312e12, "bf16": 312e12},
   "memory_bandwidth_bytes_per_s": 2.039e12, "interconnect_bytes_per_s": 600e9,
   "memory_bytes": 80000000000, "price_per_device_hour": 1.50,
   "source": "NVIDIA A100 Tensor Core GPU datasheet, A100 80GB SXM column (dense figures; no fp8)"},
  {"model": "NVIDIA B200",
   "aliases": ["b200", "b200 sxm", "hgx b200"],
   "peak_dense_flops": {"fp32": 75e12, "tf32": 1.125e15, "fp16": 2.25e15, "bf16": 2.25e15,
                        "fp8_e4m3": 4.5e15},
   "memory_bandwidth_bytes_per_s": 8e12, "interconnect_bytes_per_s": 1.8e12,
   "memory_bytes": 180000000000, "price_per_device_hour": 5.00,
   "source": "NVIDIA HGX B200 datasheet, per GPU (8-GPU figures divided by 8, sparse tensor figures halved)"},
  {"model": "AMD Instinct MI300X",
   "aliases": ["mi300x", "mi300x oam"],
   "peak_dense_flops": {"fp32": 163.4e12, "tf32": 653.7e12, "fp16": 1307.4e12, "bf16": 1307.4e12,
                        "fp8_e4m3": 2614.9e12},
   "memory_bandwidth_bytes_per_s": 5.3e12, "interconnect_bytes_per_s": 896e9,
   "memory_bytes": 192000000000, "price_per_device_hour": 2.50,
   "source": "AMD Instinct MI300X data sheet (dense matrix figures; Infinity Fabric 7 x 128 GB/s)"},
  {"model": "AMD Instinct MI325X",
   "aliases": ["mi325x", "mi325x oam"],
   "peak_dense_flops": {"fp32": 163.4e12, "tf32": 653.7e12, "fp16": 1307.4e12, "bf16": 1307.4e12,
                        "fp8_e4m3": 2614.9e12},
   "memory_bandwidth_bytes_per_s": 6e12, "interconnect_bytes_per_s": 896e9,
   "memory_bytes": 256000000000,
   "source": "AMD Instinct MI325X data sheet (dense matrix figures, the MI300X's compute with 256 GB HBM3E at 6 TB/s; Infinity Fabric 7 x 128 GB/s); no default price"},
  {"model": "Intel Data Center GPU Max 1550",
   "aliases": ["intel data center gpu max 1550", "intel(r) data center gpu max 1550", "data center gpu max 1550",
               "gpu max 1550", "max 1550"],
   "peak_dense_flops": {"fp32": 52.4e12, "tf32": 419.4e12, "fp16": 838.9e12, "bf16": 838.9e12},
   "memory_bandwidth_bytes_per_s": 3.2768e12,
   "memory_bytes": 128000000000,
   "source": "Intel Data Center GPU Max 1550 product brief and ark.intel.com (128 Xe cores at 1.6 GHz: XMX 838.9 TFLOP/s fp16/bf16, 419.4 tf32; fp32 52.4 on the vector engines; no fp8; 128 GB HBM2e at 3.2768 TB/s); Xe Link bandwidth and price not entered"},
  {"model": "Intel Gaudi 3",
   "aliases": ["gaudi 3", "gaudi3", "intel gaudi 3", "hl 325l"],
   "peak_dense_flops": {"bf16": 1835e12, "fp8_e4m3": 1835e12},
   "memory_bandwidth_bytes_per_s": 3.7e12, "interconnect_bytes_per_s": 1.2e12,
   "memory_bytes": 128000000000,
   "source": "Intel Gaudi 3 AI accelerator white paper, HL-325L OAM (matrix engine bf16 and fp8 1835 TFLOP/s; 128 GB HBM2e at 3.7 TB/s; 24 x 200 GbE RoCE, 1.2 TB/s both directions); other dtypes and price not entered"}
]})json";

constexpr v1::DType kDTypes[] = {v1::DTYPE_FP32, v1::DTYPE_TF32, v1::DTYPE_FP16, v1::DTYPE_BF16,
                                 v1::DTYPE_FP8_E4M3};

absl::Status Invalid(const std::string& msg) { return absl::InvalidArgumentError(msg); }

absl::Status CheckEntry(const v1::DeviceCatalogueEntry& e, const std::string& field) {
  for (const auto& [name, value] : e.peak_dense_flops()) {
    bool known = false;
    for (v1::DType d : kDTypes) known |= DTypeName(d) == name;
    if (!known) {
      return Invalid(absl::StrCat(field, ".peak_dense_flops: unknown dtype \"", name,
                                  "\" (fp32, tf32, fp16, bf16, fp8_e4m3)"));
    }
    if (!(value > 0)) {
      return Invalid(absl::StrCat(field, ".peak_dense_flops[\"", name, "\"] (", value,
                                  ") must be positive"));
    }
  }
  const std::pair<const char*, double> numbers[] = {
      {"memory_bandwidth_bytes_per_s", e.memory_bandwidth_bytes_per_s()},
      {"interconnect_bytes_per_s", e.interconnect_bytes_per_s()},
      {"price_per_device_hour", e.price_per_device_hour()},
      {"memory_bytes", static_cast<double>(e.memory_bytes())}};
  for (const auto& [name, value] : numbers) {
    if (value < 0) {
      return Invalid(absl::StrCat(field, ".", name, " (", value, ") must not be negative"));
    }
  }
  return absl::OkStatus();
}

DeviceSpec ToSpec(const v1::DeviceCatalogueEntry& e) {
  DeviceSpec s;
  s.model = e.model();
  for (v1::DType d : kDTypes) {
    auto it = e.peak_dense_flops().find(std::string(DTypeName(d)));
    if (it != e.peak_dense_flops().end()) s.peak_dense_flops[d] = it->second;
  }
  s.memory_bandwidth_bytes_per_s = e.memory_bandwidth_bytes_per_s();
  s.interconnect_bytes_per_s = e.interconnect_bytes_per_s();
  s.price_per_device_hour = e.price_per_device_hour();
  s.source = e.source();
  s.memory_bytes = e.memory_bytes();
  for (const std::string& a : e.aliases()) s.aliases.push_back(NormalizeDeviceName(a));
  return s;
}

// Field-wise override: only what `o` sets.
void Apply(const v1::DeviceCatalogueEntry& o, v1::DeviceCatalogueEntry* e) {
  for (const std::string& a : o.aliases()) e->add_aliases(a);
  for (const auto& [k, v] : o.peak_dense_flops()) (*e->mutable_peak_dense_flops())[k] = v;
  if (o.memory_bandwidth_bytes_per_s() > 0) {
    e->set_memory_bandwidth_bytes_per_s(o.memory_bandwidth_bytes_per_s());
  }
  if (o.interconnect_bytes_per_s() > 0) e->set_interconnect_bytes_per_s(o.interconnect_bytes_per_s());
  if (o.price_per_device_hour() > 0) e->set_price_per_device_hour(o.price_per_device_hour());
  if (!o.source().empty()) e->set_source(o.source());
  if (o.memory_bytes() > 0) e->set_memory_bytes(o.memory_bytes());
}

}  // namespace

double DeviceSpec::PeakFlops(v1::DType dtype) const {
  auto it = peak_dense_flops.find(dtype);
  return it == peak_dense_flops.end() ? 0 : it->second;
}

std::string NormalizeDeviceName(std::string_view name) {
  std::string s = absl::AsciiStrToLower(std::string(name));
  for (char& c : s) {
    if (c == '-' || c == '_') c = ' ';
  }
  std::vector<std::string> words = absl::StrSplit(s, ' ', absl::SkipWhitespace());
  size_t start = 0;
  if (start < words.size() && (words[start] == "nvidia" || words[start] == "amd")) ++start;
  if (start < words.size() && words[start] == "instinct") ++start;
  std::string out;
  for (size_t i = start; i < words.size(); ++i) absl::StrAppend(&out, out.empty() ? "" : " ", words[i]);
  return out;
}

const DeviceCatalogue& DeviceCatalogue::BuiltIn() {
  // Parsed once; a broken built-in is a bug caught by every catalogue test.
  static const DeviceCatalogue* const catalogue = [] {
    auto c = ParseJson(kBuiltInJson);
    return new DeviceCatalogue(c.ok() ? *std::move(c) : DeviceCatalogue());
  }();
  return *catalogue;
}

absl::StatusOr<DeviceCatalogue> DeviceCatalogue::FromProto(const v1::DeviceCatalogue& proto) {
  DeviceCatalogue c;
  for (int i = 0; i < proto.devices_size(); ++i) {
    const v1::DeviceCatalogueEntry& e = proto.devices(i);
    const std::string field = absl::StrCat("catalogue.devices[", i, "]");
    if (NormalizeDeviceName(e.model()).empty()) {
      return Invalid(absl::StrCat(field, ".model is empty"));
    }
    absl::Status st = CheckEntry(e, field);
    if (!st.ok()) return st;
    DeviceSpec spec = ToSpec(e);
    std::vector<std::string> names = spec.aliases;
    names.push_back(NormalizeDeviceName(spec.model));
    for (const std::string& n : names) {
      const DeviceSpec* other = c.Find(n);
      if (other != nullptr) {
        return Invalid(absl::StrCat(field, ": name \"", n, "\" already names ", other->model));
      }
    }
    c.devices_.push_back(std::move(spec));
  }
  return c;
}

absl::StatusOr<DeviceCatalogue> DeviceCatalogue::ParseJson(std::string_view json) {
  v1::DeviceCatalogue proto;
  if (auto s = ParseStrictJson(absl::string_view(json.data(), json.size()), "catalogue", &proto); !s.ok()) return s;
  return FromProto(proto);
}

absl::StatusOr<DeviceCatalogue> DeviceCatalogue::WithOverrides(
    const v1::DeviceCatalogue& overrides) const {
  v1::DeviceCatalogue merged = ToProto();
  for (const v1::DeviceCatalogueEntry& o : overrides.devices()) {
    const DeviceSpec* existing = Find(o.model());
    if (existing == nullptr) {
      *merged.add_devices() = o;
      continue;
    }
    for (v1::DeviceCatalogueEntry& e : *merged.mutable_devices()) {
      if (e.model() == existing->model) Apply(o, &e);
    }
  }
  return FromProto(merged);
}

const DeviceSpec* DeviceCatalogue::Find(std::string_view name) const {
  const std::string n = NormalizeDeviceName(name);
  if (n.empty()) return nullptr;
  for (const DeviceSpec& d : devices_) {
    if (NormalizeDeviceName(d.model) == n) return &d;
    for (const std::string& a : d.aliases) {
      if (a == n) return &d;
    }
  }
  return nullptr;
}

v1::DeviceCatalogue DeviceCatalogue::ToProto() const {
  v1::DeviceCatalogue proto;
  for (const DeviceSpec& d : devices_) {
    v1::DeviceCatalogueEntry* e = proto.add_devices();
    e->set_model(d.model);
    for (const std::string& a : d.aliases) e->add_aliases(a);
    for (const auto& [dtype, v] : d.peak_dense_flops) {
      (*e->mutable_peak_dense_flops())[std::string(DTypeName(dtype))] = v;
    }
    e->set_memory_bandwidth_bytes_per_s(d.memory_bandwidth_bytes_per_s);
    e->set_interconnect_bytes_per_s(d.interconnect_bytes_per_s);
    e->set_price_per_device_hour(d.price_per_device_hour);
    e->set_source(d.source);
    e->set_memory_bytes(d.memory_bytes);
  }
  return proto;
}

const DeviceSpec* FindDevice(std::string_view model_name) {
  return DeviceCatalogue::BuiltIn().Find(model_name);
}

absl::StatusOr<DeviceCatalogue> LoadCatalogueFile(const std::string& path) {
  v1::DeviceCatalogue proto;
  if (auto s = ReadStrictJsonFile(path, "catalogue", &proto); !s.ok()) return s;
  auto merged = DeviceCatalogue::BuiltIn().WithOverrides(proto);
  if (!merged.ok()) {
    return Invalid(absl::StrCat("catalogue file ", path, ": ", merged.status().message()));
  }
  return merged;
}

}  // namespace tokenmeter::workload
