# The ROCm port (docs/backends.md, "ROCm"):
#   TOKENMETER_WITH_HIP_KERNELS (AUTO): the device kernels of kernels/cuda/
#     compiled with hipcc for AMD GPUs, through kernels/cuda/gpu_runtime.h,
#     when hipcc is found (Debian 12: hipcc libamdhip64-dev, HIP 5.2);
#   the rocm plugin (libtokenmeter-rocm.so), with the HIP runtime alone
#     (libamdhip64): device inventory, no GEMM or collectives
#     (kernels/rocm/rocm_backend.h), built with the kernels;
#   TOKENMETER_WITH_ROCM (OFF): the rest of the rocm backend — hipBLASLt
#     GEMM, RCCL collectives, rocm-smi energy — which needs ROCm >= 6 and is
#     not written yet; asking for it says so.
set(TOKENMETER_WITH_HIP_KERNELS "AUTO" CACHE STRING "Compile the device kernels with hipcc: ON, OFF or AUTO")
set_property(CACHE TOKENMETER_WITH_HIP_KERNELS PROPERTY STRINGS ON OFF AUTO)
# gfx90a: MI200 (MI210/MI250X); gfx940: the first MI300 target. HIP 5.2's
# LLVM 15 does not know gfx942 (MI300X/MI325X); ROCm 6 does: add it there.
set(TOKENMETER_HIP_ARCHITECTURES "gfx90a;gfx940" CACHE STRING "AMD GPU targets for hipcc")
option(TOKENMETER_WITH_ROCM "Build the rocm backend plugin (needs ROCm >= 6 with hipBLASLt and RCCL)" OFF)

set(TOKENMETER_HAVE_HIP_KERNELS OFF)
if(NOT TOKENMETER_WITH_HIP_KERNELS STREQUAL "OFF")
  find_program(TOKENMETER_HIPCC hipcc)
  find_library(TOKENMETER_AMDHIP64 amdhip64)
  find_path(TOKENMETER_HIP_INCLUDE_DIR hip/hip_runtime_api.h)
  if(TOKENMETER_HIPCC AND TOKENMETER_AMDHIP64 AND TOKENMETER_HIP_INCLUDE_DIR)
    set(TOKENMETER_HAVE_HIP_KERNELS ON)
  elseif(TOKENMETER_WITH_HIP_KERNELS STREQUAL "ON")
    message(FATAL_ERROR "TOKENMETER_WITH_HIP_KERNELS=ON but hipcc, libamdhip64 or its headers were not found")
  endif()
endif()
if(TOKENMETER_WITH_ROCM)
  message(FATAL_ERROR "TOKENMETER_WITH_ROCM: the rocm backend's GEMM (hipBLASLt), collectives (RCCL) and "
                      "energy (rocm-smi) are laid out in docs/backends.md but not written yet; its device "
                      "kernels and device inventory build with TOKENMETER_WITH_HIP_KERNELS")
endif()
message(STATUS "tokenmeter: HIP device kernels ${TOKENMETER_HAVE_HIP_KERNELS}")
