// Writing files without losing what was there.
//
// A file is written to a temporary name in the same folder, flushed to disk and then
// renamed over the target, so a reader (or the user, after a crash, a full disk or a
// file-size limit) sees either the old file whole or the new one whole, never a
// truncated mix. Any failure is a user error naming the path and the reason, and the
// temporary file is removed.
#pragma once

#include <string>
#include <string_view>

namespace aotgrad {

/// Replaces `path` with `content` atomically. A target that exists and is not a
/// regular file (a device such as /dev/null, a pipe) is written in place instead.
void write_file_atomically(const std::string& path, std::string_view content);

/// Writes `content` to standard output and flushes it; a user error if that fails
/// (a full disk behind a redirect, a closed pipe).
void write_stdout(std::string_view content);

}  // namespace aotgrad
