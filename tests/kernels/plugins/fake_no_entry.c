/* A shared library named like a backend plugin that exports no entry point
 * (tests/kernels/kernels_plugin_test.cc): the loader must refuse it. */
__attribute__((visibility("default"))) int tokenmeter_not_a_plugin(void) { return 0; }
