# tokenmeter_warnings(target): the project's own code builds warning-free.
function(tokenmeter_warnings target)
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Werror -Wno-unused-parameter>)
endfunction()

# tokenmeter_library(name SOURCES... DEPS...): one library per folder.
function(tokenmeter_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR})
  target_compile_definitions(${name} PRIVATE TOKENMETER_VERSION="${PROJECT_VERSION}")
  target_link_libraries(${name} PUBLIC ${ARG_DEPS})
  tokenmeter_warnings(${name})
endfunction()

# tokenmeter_plugin(kind SOURCES... DEPS...): the backend plugin
# libtokenmeter-<kind>.so (kernels/plugin/plugin_abi.h), target
# tokenmeter_<kind>_plugin, into the build's plugin directory where the
# binary finds it, installed in lib/. Only its entry point is exported: the
# C++ inside, static libraries included, stays the plugin's own.
function(tokenmeter_plugin kind)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  set(target tokenmeter_${kind}_plugin)
  add_library(${target} SHARED ${ARG_SOURCES})
  target_link_libraries(${target} PRIVATE ${ARG_DEPS} tokenmeter_plugin_export)
  target_include_directories(${target} PRIVATE ${PROJECT_SOURCE_DIR})
  target_compile_definitions(${target} PRIVATE TOKENMETER_VERSION="${PROJECT_VERSION}")
  tokenmeter_warnings(${target})
  set_target_properties(${target} PROPERTIES
    OUTPUT_NAME tokenmeter-${kind}
    LIBRARY_OUTPUT_DIRECTORY ${TOKENMETER_PLUGIN_DIR}
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  target_link_options(${target} PRIVATE -Wl,--exclude-libs,ALL)
  install(TARGETS ${target} LIBRARY DESTINATION lib)
endfunction()

# tokenmeter_test(file DEPS... [LABELS...] [TIMEOUT s] [NEEDS_BINARY]): one test
# binary per file, registered with CTest (as LevelDB's leveldb_test() does).
# NEEDS_BINARY: the test runs the tokenmeter executable, so it is built first.
function(tokenmeter_test file)
  cmake_parse_arguments(ARG "NEEDS_BINARY" "TIMEOUT" "DEPS;LABELS" ${ARGN})
  get_filename_component(name ${file} NAME_WE)
  add_executable(${name} ${file})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gtest_main GTest::gmock)
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR})
  tokenmeter_warnings(${name})
  # Integration tests find the tokenmeter binary through this definition.
  target_compile_definitions(${name} PRIVATE
    TOKENMETER_BINARY="$<TARGET_FILE:tokenmeter>"
    TOKENMETER_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
  if(ARG_NEEDS_BINARY)
    add_dependencies(${name} tokenmeter)
  endif()
  add_test(NAME ${name} COMMAND ${name})
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 300)
  endif()
  set_tests_properties(${name} PROPERTIES TIMEOUT ${ARG_TIMEOUT})
  if(ARG_LABELS)
    set_tests_properties(${name} PROPERTIES LABELS "${ARG_LABELS}")
  endif()
endfunction()
