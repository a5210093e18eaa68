# Decides whether the OpenCL backend is built: it needs an OpenCL ICD loader
# with headers and CLBlast (Debian: ocl-icd-opencl-dev opencl-headers
# libclblast-dev; pocl-opencl-icd gives a CPU device to run it on).
set(TOKENMETER_HAVE_OPENCL OFF)
if(NOT TOKENMETER_WITH_OPENCL STREQUAL "OFF")
  find_package(OpenCL QUIET)
  find_package(CLBlast CONFIG QUIET)
  if(OpenCL_FOUND AND CLBlast_FOUND)
    set(TOKENMETER_HAVE_OPENCL ON)
  elseif(TOKENMETER_WITH_OPENCL STREQUAL "ON")
    message(FATAL_ERROR "TOKENMETER_WITH_OPENCL=ON but OpenCL (${OpenCL_FOUND}) or CLBlast (${CLBlast_FOUND}) was not found")
  endif()
endif()
message(STATUS "tokenmeter: OpenCL backend ${TOKENMETER_HAVE_OPENCL}")
