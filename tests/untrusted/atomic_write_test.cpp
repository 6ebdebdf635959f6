// Files are replaced whole or not at all: a write that fails part-way (here, past a
// file-size limit, as on a full disk) is an error and leaves the user's file as it was.
#include <gtest/gtest.h>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "support/atomic_file.h"
#include "test_util.h"

using namespace aotgrad;
using aotgrad::testing::error_of;
using aotgrad::testing::read_file;

namespace {
std::string fresh_dir(const std::string& name) {
  const std::string dir = aotgrad::testing::own_temp_path(name);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

// Runs `write` in a child process limited to `limit_bytes` per file (RLIMIT_FSIZE, as
// `ulimit -f` sets it); returns the child's exit status: 0 if the write succeeded, 1 if
// it reported an error, anything else if it died.
int write_under_size_limit(rlim_t limit_bytes, const std::function<void()>& write) {
  const pid_t pid = fork();
  if (pid == 0) {
    std::signal(SIGXFSZ, SIG_IGN);
    rlimit lim{limit_bytes, limit_bytes};
    setrlimit(RLIMIT_FSIZE, &lim);
    _exit(error_of(write).empty() ? 0 : 1);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status);
}
}  // namespace

TEST(AtomicWrite, ReplacesTheFileWhole) {
  const std::string dir = fresh_dir("atomic_ok");
  const std::string path = dir + "/graph.json";
  std::ofstream(path) << "old contents";
  write_file_atomically(path, "new contents");
  EXPECT_EQ(read_file(path), "new contents");
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir), {}), 1) << "no temporary file is left behind";
}

TEST(AtomicWrite, AWriteThatFailsPartWayLeavesTheOldFileAndNoTemporary) {
  const std::string dir = fresh_dir("atomic_limit");
  const std::string path = dir + "/graph.json";
  const std::string old_text = "the user's graph, which must survive";
  std::ofstream(path) << old_text;
  const std::string big(1 << 20, 'x');
  EXPECT_EQ(write_under_size_limit(4096, [&] { write_file_atomically(path, big); }), 1);
  EXPECT_EQ(read_file(path), old_text);
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir), {}), 1) << "the temporary file is removed";
  // And with no file there before, none is created.
  const std::string fresh = dir + "/new.json";
  EXPECT_EQ(write_under_size_limit(4096, [&] { write_file_atomically(fresh, big); }), 1);
  EXPECT_FALSE(std::filesystem::exists(fresh));
}

TEST(AtomicWrite, ErrorsNameThePathAndTheReason) {
  const std::string dir = fresh_dir("atomic_msg");
  const std::string e = error_of([&] { write_file_atomically(dir + "/missing/dir/out.json", "x"); });
  EXPECT_NE(e.find("missing/dir/out.json"), std::string::npos) << e;
  EXPECT_NE(e.find("No such file or directory"), std::string::npos) << e;
  // A device (here one that is always full) is written in place and its failure reported.
  const std::string full = error_of([] { write_file_atomically("/dev/full", "x"); });
  EXPECT_NE(full.find("No space left on device"), std::string::npos) << full;
}

TEST(AtomicWrite, KeepsTheModeOfTheFileItReplaces) {
  const std::string dir = fresh_dir("atomic_mode");
  const std::string path = dir + "/script.sh";
  std::ofstream(path) << "#!/bin/sh\n";
  std::filesystem::permissions(path, std::filesystem::perms(0750));
  write_file_atomically(path, "#!/bin/sh\necho hi\n");
  EXPECT_EQ(std::filesystem::status(path).permissions() & std::filesystem::perms::all, std::filesystem::perms(0750));
}
