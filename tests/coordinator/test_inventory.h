// Inventories for coordinator tests.
#ifndef TOKENMETER_TESTS_COORDINATOR_TEST_INVENTORY_H_
#define TOKENMETER_TESTS_COORDINATOR_TEST_INVENTORY_H_

#include <string>

#include "tokenmeter/v1/inventory.pb.h"

namespace tokenmeter::coordinator {

inline v1::WorkerInventory TestInventory(const std::string& host, int devices, const std::string& model = "Test CPU",
                                         const std::string& backend = "cpu", const std::string& setup = "lab") {
  v1::WorkerInventory inv;
  inv.set_hostname(host);
  inv.set_backend(backend);
  inv.set_setup(setup);
  for (int i = 0; i < devices; ++i) {
    auto* d = inv.add_devices();
    d->set_index(i);
    d->set_model(model);
    d->set_memory_bytes(int64_t{16} << 30);
  }
  inv.add_gemm_dtypes(v1::DTYPE_FP32);
  inv.add_collective_dtypes(v1::DTYPE_FP32);
  return inv;
}

}  // namespace tokenmeter::coordinator

#endif  // TOKENMETER_TESTS_COORDINATOR_TEST_INVENTORY_H_
