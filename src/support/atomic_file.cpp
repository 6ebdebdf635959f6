#include "support/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "support/error.h"

namespace aotgrad {

namespace {
// Writes all of `content` to `fd`; false (with errno set) on failure.
bool write_all(int fd, std::string_view content) {
  size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n == 0) errno = EIO;
      return false;
    }
    done += static_cast<size_t>(n);
  }
  return true;
}

std::string reason() {
  return std::strerror(errno);
}

void write_in_place(const std::string& path, std::string_view content) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  AG_CHECK(fd >= 0, "cannot write '{}': {}", path, reason());
  const bool ok = write_all(fd, content);
  const std::string why = ok ? "" : reason();
  ::close(fd);
  AG_CHECK(ok, "could not finish writing '{}': {}", path, why);
}
}  // namespace

void write_file_atomically(const std::string& path, std::string_view content) {
  namespace fs = std::filesystem;
  AG_CHECK(!path.empty(), "cannot write a file with an empty name");
  struct stat existing {};
  const bool exists = ::stat(path.c_str(), &existing) == 0;
  if (exists && !S_ISREG(existing.st_mode)) return write_in_place(path, content);

  const fs::path target(path);
  const fs::path folder = target.has_parent_path() ? target.parent_path() : fs::path(".");
  std::string tmp = (folder / fmt::format(".{}.tmp-XXXXXX", target.filename().string())).string();
  const int fd = ::mkstemp(tmp.data());
  AG_CHECK(fd >= 0, "cannot write '{}': cannot create a temporary file in '{}': {}", path, folder.string(), reason());
  // mkstemp creates 0600; give the file the mode the user had, or the usual one.
  mode_t mode = 0666;
  if (exists) {
    mode = existing.st_mode & 07777;
  } else {
    const mode_t mask = ::umask(0);
    ::umask(mask);
    mode &= ~mask;
  }
  bool ok = ::fchmod(fd, mode) == 0 && write_all(fd, content) && ::fsync(fd) == 0;
  std::string why = ok ? "" : reason();
  if (::close(fd) != 0 && ok) {
    ok = false;
    why = reason();
  }
  if (ok && ::rename(tmp.c_str(), path.c_str()) != 0) {
    ok = false;
    why = reason();
  }
  if (!ok) {
    ::unlink(tmp.c_str());
    AG_FAIL("could not write '{}': {} ({})", path, why,
            exists ? "the existing file is unchanged" : "no file was created");
  }
}

void write_stdout(std::string_view content) {
  const size_t n = std::fwrite(content.data(), 1, content.size(), stdout);
  AG_CHECK(n == content.size() && std::fflush(stdout) == 0, "could not write to standard output: {}", reason());
}

}  // namespace aotgrad
