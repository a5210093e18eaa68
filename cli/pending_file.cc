#include "cli/pending_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"

namespace tokenmeter::cli {

absl::Status PendingFile::Error(absl::string_view what, int error) const {
  return absl::PermissionDeniedError(
      absl::StrCat(flag_, ": cannot ", what, " '", destination_, "': ", std::strerror(error)));
}

absl::StatusOr<std::unique_ptr<PendingFile>> PendingFile::Create(const std::string& destination,
                                                                const std::string& flag) {
  std::error_code ec;
  if (std::filesystem::is_directory(destination, ec)) {
    return absl::PermissionDeniedError(
        absl::StrCat(flag, ": cannot write a file over directory '", destination, "': ", std::strerror(EISDIR)));
  }
  std::string temp = absl::StrCat(destination, ".tmp-XXXXXX");
  const int fd = mkstemp(temp.data());
  if (fd < 0) {
    return absl::PermissionDeniedError(
        absl::StrCat(flag, ": cannot write '", destination, "': ", std::strerror(errno)));
  }
  return std::unique_ptr<PendingFile>(new PendingFile(destination, std::move(temp), fd, flag));
}

PendingFile::~PendingFile() {
  if (fd_ >= 0) close(fd_);
  if (!committed_) unlink(temp_.c_str());
}

absl::Status PendingFile::Commit(const std::string& contents) {
  for (size_t done = 0; done < contents.size();) {
    const ssize_t n = write(fd_, contents.data() + done, contents.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error("write", errno);
    done += static_cast<size_t>(n);
  }
  // mkstemp makes the file private (0600); the file is meant to be read
  // like any file the user creates.
  const mode_t mask = umask(0);
  umask(mask);
  if (fchmod(fd_, 0666 & ~mask) != 0 || fsync(fd_) != 0) return Error("write", errno);
  const int closed = close(fd_);
  fd_ = -1;
  if (closed != 0) return Error("write", errno);
  if (rename(temp_.c_str(), destination_.c_str()) != 0) return Error("replace", errno);
  committed_ = true;
  return absl::OkStatus();
}

}  // namespace tokenmeter::cli
