#include "cli/signals.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <thread>

namespace tokenmeter::cli {
namespace {

int wake_pipe[2] = {-1, -1};

// Async-signal-safe: only write(2). Any thread may run it, including threads
// that libraries (OpenBLAS's pool, gRPC) started before main, which is why a
// handler is used rather than blocking the signals and sigwait().
void OnSignal(int sig) {
  const unsigned char byte = static_cast<unsigned char>(sig);
  const int saved = errno;
  (void)!write(wake_pipe[1], &byte, 1);
  errno = saved;
}

}  // namespace

void IgnoreBrokenPipes() { signal(SIGPIPE, SIG_IGN); }

void HandleShutdownSignals(std::function<void(int signal)> on_signal) {
  if (pipe(wake_pipe) != 0) return;
  struct sigaction action = {};
  action.sa_handler = OnSignal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  std::thread([on_signal = std::move(on_signal)] {
    unsigned char byte = 0;
    ssize_t n;
    do {
      n = read(wake_pipe[0], &byte, 1);
    } while (n < 0 && errno == EINTR);
    if (n == 1) on_signal(byte);
  }).detach();
}

}  // namespace tokenmeter::cli
