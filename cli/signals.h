// Shutdown on SIGINT / SIGTERM: the handler only wakes a dedicated thread,
// which does the work (nothing but write(2) happens in signal context).
#ifndef TOKENMETER_CLI_SIGNALS_H_
#define TOKENMETER_CLI_SIGNALS_H_

#include <functional>

namespace tokenmeter::cli {

// Installs handlers for SIGINT and SIGTERM and starts a thread that calls
// on_signal (once, with the signal number) when either arrives.
void HandleShutdownSignals(std::function<void(int signal)> on_signal);

// Makes a write to a socket whose peer is gone fail with EPIPE instead of
// killing this process with SIGPIPE. Gloo sends over TCP with writev(2),
// which raises SIGPIPE (it cannot take MSG_NOSIGNAL); Gloo usually runs under
// Python, which ignores SIGPIPE, and a C++ process must do so itself — or a
// worker whose peer dies mid-send dies with it, silently, instead of
// reporting the lost peer. For the long-running roles (worker, coordinator);
// inherited by what they exec.
void IgnoreBrokenPipes();

}  // namespace tokenmeter::cli

#endif  // TOKENMETER_CLI_SIGNALS_H_
