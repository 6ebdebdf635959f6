// Scratch buffers that stay with their thread from one kernel call to the next.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace aotgrad::ops::cpu {

/// At least n elements of scratch (uninitialised as far as the caller knows), this
/// thread's own, the same buffer for every call with the same T and kSlot while it is
/// small. A fresh buffer is fresh pages (faults) or lines last written by another
/// core, and writing over another core's lines cost a 2-vCPU VM (Zen 5) ten times a
/// local write: 256 KiB in 48 us against 3.5. Large buffers are returned after use.
/// Two scratches alive at once in one thread need different slots.
///   The buffer starts on a cache line: a vector's std::vector storage is aligned to 16
/// bytes only, and on Zen 5 a 64-byte load across two lines costs two; the channels-last
/// depthwise kernel, all of whose loads are whole vectors of its scratch, ran 1.6x
/// slower so.
template <typename T, int kSlot>
class ThreadScratch {
 public:
  explicit ThreadScratch(int64_t n) : buffer_(local()) {
    buffer_.resize(static_cast<size_t>(std::max<int64_t>(n, 1)) + kSlack);
  }
  ~ThreadScratch() {
    constexpr size_t kKeepBytes = size_t{1} << 20;
    if (buffer_.size() * sizeof(T) > kKeepBytes) std::vector<T>().swap(buffer_);
  }
  ThreadScratch(const ThreadScratch&) = delete;
  ThreadScratch& operator=(const ThreadScratch&) = delete;
  T* get() {
    const auto at = reinterpret_cast<uintptr_t>(buffer_.data());
    return reinterpret_cast<T*>((at + kLine - 1) / kLine * kLine);
  }

 private:
  static constexpr uintptr_t kLine = 64;
  static constexpr size_t kSlack = (kLine + sizeof(T) - 1) / sizeof(T);  // elements to reach the next line
  static std::vector<T>& local() {
    thread_local std::vector<T> buffer;
    return buffer;
  }
  std::vector<T>& buffer_;
};

}  // namespace aotgrad::ops::cpu
