// Shutdown on SIGINT / SIGTERM, handled on a dedicated thread (no work in an
// async signal handler).
#ifndef TOKENMETER_CLI_SIGNALS_H_
#define TOKENMETER_CLI_SIGNALS_H_

#include <functional>

namespace tokenmeter::cli {

// Blocks SIGINT and SIGTERM in the calling thread and every thread it starts
// afterwards, and starts a thread that calls on_signal (once) when either
// arrives. Call before starting other threads.
void HandleShutdownSignals(std::function<void(int signal)> on_signal);

}  // namespace tokenmeter::cli

#endif  // TOKENMETER_CLI_SIGNALS_H_
