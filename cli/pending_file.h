// A file replaced atomically: written to a temporary file beside its
// destination (the same directory, so the rename is atomic), made durable and
// renamed over it, so that a reader (a browser reloading, a CI artefact
// upload) never sees half a file and a failed run leaves the previous one in
// place. Errors name the flag the path came from.
#ifndef TOKENMETER_CLI_PENDING_FILE_H_
#define TOKENMETER_CLI_PENDING_FILE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace tokenmeter::cli {

// Not thread-safe. The temporary file is removed unless committed.
class PendingFile {
 public:
  // Creates the temporary file now, so that an unwritable destination is
  // known before any work is done. `flag` ("--out") prefixes errors.
  static absl::StatusOr<std::unique_ptr<PendingFile>> Create(const std::string& destination, const std::string& flag);
  ~PendingFile();
  PendingFile(const PendingFile&) = delete;
  PendingFile& operator=(const PendingFile&) = delete;

  // Writes `contents`, makes it durable and renames it over the destination.
  absl::Status Commit(const std::string& contents);

 private:
  PendingFile(std::string destination, std::string temp, int fd, std::string flag)
      : destination_(std::move(destination)), temp_(std::move(temp)), flag_(std::move(flag)), fd_(fd) {}
  absl::Status Error(absl::string_view what, int error) const;

  std::string destination_, temp_, flag_;
  int fd_;
  bool committed_ = false;
};

}  // namespace tokenmeter::cli

#endif  // TOKENMETER_CLI_PENDING_FILE_H_
