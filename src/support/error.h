// Raising errors inside aotgrad: the macros every layer uses (STYLE.md rule 5). The
// Error type itself is public (include/aotgrad/error.h).
#pragma once

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "aotgrad/error.h"

/// A check on user input: throws aotgrad::Error(User) with a fmt-formatted message.
#define AG_CHECK(cond, ...)                                                                    \
  do {                                                                                         \
    if (!(cond)) throw ::aotgrad::Error(::aotgrad::ErrorKind::User, fmt::format(__VA_ARGS__)); \
  } while (0)

/// An invariant of aotgrad itself; failing it is a bug in aotgrad, not in the caller.
#define AG_INTERNAL_CHECK(cond, ...)                                                                 \
  do {                                                                                               \
    if (!(cond))                                                                                     \
      throw ::aotgrad::Error(::aotgrad::ErrorKind::Internal,                                         \
                             fmt::format("{}:{}: ", __FILE__, __LINE__) + fmt::format(__VA_ARGS__)); \
  } while (0)

#define AG_FAIL(...) throw ::aotgrad::Error(::aotgrad::ErrorKind::User, fmt::format(__VA_ARGS__))
