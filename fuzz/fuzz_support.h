// What every libFuzzer harness under fuzz/ shares: the rule that bad input may only ever end in an
// i2i::Error, and an in-memory file for the readers whose product entry point takes a path.
//
// A harness calls the same function the product calls on the bytes it is given. An i2i::Error is the
// expected outcome for bad input and is swallowed; anything else - a crash, a sanitizer report, another
// exception type (std::terminate aborts), a broken invariant (fuzz_check aborts), a timeout or running
// out of memory (libFuzzer's -timeout and -rss_limit_mb) - is a finding.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/error.h"

namespace i2i::fuzz {

// Runs `f`, swallowing i2i::Error only.
template <typename F>
void expect_only_errors(F&& f) {
  try {
    f();
  } catch (const Error&) {
  }
}

// An invariant of a successful parse; a broken one is reported and aborts (a finding).
inline void fuzz_check(bool condition, const char* what) {
  if (condition) return;
  std::fprintf(stderr, "fuzz invariant broken: %s\n", what);
  std::abort();
}

// An anonymous in-memory regular file (memfd) reopened by path through /proc/self/fd, so that readers
// that take a path (safetensors' mmap, config and YAML files, PNG text) read the fuzzer's bytes without
// touching the disk. One per harness, rewritten for every input.
class MemoryFile {
 public:
  MemoryFile() : fd_(memfd_create("i2i-fuzz", MFD_CLOEXEC)) {
    if (fd_ < 0) {
      std::perror("memfd_create");
      std::abort();
    }
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  MemoryFile(const MemoryFile&) = delete;
  MemoryFile& operator=(const MemoryFile&) = delete;

  // Replaces the file's contents with `data` and returns its path.
  const std::string& write(const uint8_t* data, size_t size) {
    if (ftruncate(fd_, 0) != 0 || (size > 0 && pwrite(fd_, data, size, 0) != static_cast<ssize_t>(size))) {
      std::perror("memfd write");
      std::abort();
    }
    return path_;
  }

 private:
  int fd_;
  std::string path_;
};

}  // namespace i2i::fuzz
