// Opening files that strangers may name: only regular files are read, and opening never blocks. A named
// pipe (FIFO), device or socket given as a model, config, picture or tokenizer file would otherwise block
// forever in open() or read without end; here it is refused with "not a regular file" before any read.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace i2i {

// A read-only file descriptor of a regular file, closed on destruction.
class RegularFile {
 public:
  // Opens `path` without blocking (O_NONBLOCK, cleared once the file is known to be regular) and checks it
  // is a regular file. Throws i2i::Error "<path>: cannot open (<reason>)", "<path>: is a directory, not a
  // file" or "<path>: not a regular file (a FIFO, device or socket)".
  explicit RegularFile(const std::filesystem::path& path);
  ~RegularFile();
  RegularFile(const RegularFile&) = delete;
  RegularFile& operator=(const RegularFile&) = delete;

  int fd() const { return fd_; }
  size_t size() const { return size_; }  // at open time

  // The whole file (at most `max_bytes`; a larger one, or one that grew past it, is an i2i::Error naming
  // the file and saying it is larger than `max_bytes` bytes, too big for `what`).
  std::string read_all(size_t max_bytes, const std::string& what);
  std::vector<uint8_t> read_all_bytes(size_t max_bytes, const std::string& what);

 private:
  std::filesystem::path path_;
  int fd_ = -1;
  size_t size_ = 0;
};

// Why `path` cannot be opened when open() or stat() fails with `err` (errno), in words for a one-line
// error: "a symbolic link loop" (ELOOP), "a symbolic link to <target>, which does not exist" (a dangling
// link), "no such file or folder" (ENOENT), "<folder> is not a folder" (ENOTDIR), else strerror(err).
std::string path_error_reason(const std::filesystem::path& path, int err);
// The same for a path that std::filesystem::exists() said is not there (stat()s it again for the reason).
std::string missing_path_reason(const std::filesystem::path& path);

// RegularFile(path).read_all(max_bytes, what).
std::string read_regular_file(const std::filesystem::path& path, size_t max_bytes, const std::string& what);

}  // namespace i2i
