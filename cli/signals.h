// Shutdown on SIGINT / SIGTERM: the handler only wakes a dedicated thread,
// which does the work (nothing but write(2) happens in signal context).
#ifndef TOKENMETER_CLI_SIGNALS_H_
#define TOKENMETER_CLI_SIGNALS_H_

#include <functional>

namespace tokenmeter::cli {

// Installs handlers for SIGINT and SIGTERM and starts a thread that calls
// on_signal (once, with the signal number) when either arrives.
void HandleShutdownSignals(std::function<void(int signal)> on_signal);

}  // namespace tokenmeter::cli

#endif  // TOKENMETER_CLI_SIGNALS_H_
