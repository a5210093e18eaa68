# The ROCm port (docs/backends.md, "ROCm"):
#   TOKENMETER_WITH_HIP_KERNELS (AUTO): the device kernels of kernels/cuda/
#     compiled with hipcc for AMD GPUs, through kernels/cuda/gpu_runtime.h,
#     when hipcc is found (Debian 12: hipcc libamdhip64-dev, HIP 5.2);
#   TOKENMETER_WITH_ROCM (OFF): the rocm backend plugin itself — hipBLASLt
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
  if(TOKENMETER_HIPCC)
    set(TOKENMETER_HAVE_HIP_KERNELS ON)
  elseif(TOKENMETER_WITH_HIP_KERNELS STREQUAL "ON")
    message(FATAL_ERROR "TOKENMETER_WITH_HIP_KERNELS=ON but hipcc was not found")
  endif()
endif()
if(TOKENMETER_WITH_ROCM)
  message(FATAL_ERROR "TOKENMETER_WITH_ROCM: the rocm backend (hipBLASLt, RCCL, rocm-smi) is laid out in "
                      "docs/backends.md but not written yet; only its device kernels build "
                      "(TOKENMETER_WITH_HIP_KERNELS)")
endif()
message(STATUS "tokenmeter: HIP device kernels ${TOKENMETER_HAVE_HIP_KERNELS}")
