#include "io/regular_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/error.h"

namespace i2i {

RegularFile::RegularFile(const std::filesystem::path& path) : path_(path) {
  const std::string name = path.string();
  // O_NONBLOCK: opening a FIFO without a writer would otherwise wait for one forever.
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd_ < 0) {
    const int e = errno;
    throw Error(name + ": cannot open (" + path_error_reason(path, e) + ")");
  }
  struct stat st {};
  if (fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
    const bool dir = S_ISDIR(st.st_mode);
    ::close(fd_);
    fd_ = -1;
    throw Error(name +
                (dir ? ": is a directory, not a file" : ": not a regular file (a FIFO, device or socket)"));
  }
  const int flags = fcntl(fd_, F_GETFL);
  if (flags >= 0) fcntl(fd_, F_SETFL, flags & ~O_NONBLOCK);
  size_ = static_cast<size_t>(st.st_size);
}

std::string path_error_reason(const std::filesystem::path& path, int err) {
  if (err == ELOOP) return "a symbolic link loop";
  if (err == ENOTDIR) {
    // The first part of the path that exists and is not a folder.
    std::filesystem::path part;
    for (const auto& piece : path.parent_path()) {
      part /= piece;
      struct stat st {};
      if (::stat(part.c_str(), &st) == 0 && !S_ISDIR(st.st_mode)) return part.string() + " is not a folder";
    }
    return std::strerror(err);
  }
  if (err == ENOENT) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode)) {
      std::error_code ec;
      const std::filesystem::path target = std::filesystem::read_symlink(path, ec);
      return "a symbolic link to " + (ec ? std::string("a file") : target.string()) +
             ", which does not exist";
    }
    return "no such file or folder";
  }
  return std::strerror(err);
}

std::string missing_path_reason(const std::filesystem::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) return "cannot be read";  // (it exists after all: a race)
  return path_error_reason(path, errno);
}

RegularFile::~RegularFile() {
  if (fd_ >= 0) ::close(fd_);
}

namespace {

// Reads what is left of `fd` into a Buffer (std::string or std::vector<uint8_t>): at most max_bytes + 1
// bytes, in case the file grew since it was opened, so that a growing file still ends in the size error.
template <class Buffer>
Buffer read_whole(int fd, size_t expected, size_t max_bytes, const std::string& name,
                  const std::string& what) {
  const std::string too_big =
      name + ": larger than " + std::to_string(max_bytes) + " bytes, too big for " + what;
  if (expected > max_bytes) throw Error(too_big);
  Buffer bytes(expected + 1, 0);
  size_t got = 0;
  while (got < bytes.size()) {
    const ssize_t n = ::read(fd, bytes.data() + got, bytes.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Error(name + ": read error (" + std::strerror(errno) + ")");
    if (n == 0) break;
    got += static_cast<size_t>(n);
    if (got == bytes.size() && got <= max_bytes) bytes.resize(std::min(max_bytes + 1, bytes.size() * 2));
  }
  bytes.resize(got);
  if (bytes.size() > max_bytes) throw Error(too_big);
  return bytes;
}

}  // namespace

std::string RegularFile::read_all(size_t max_bytes, const std::string& what) {
  return read_whole<std::string>(fd_, size_, max_bytes, path_.string(), what);
}

std::vector<uint8_t> RegularFile::read_all_bytes(size_t max_bytes, const std::string& what) {
  return read_whole<std::vector<uint8_t>>(fd_, size_, max_bytes, path_.string(), what);
}

std::string read_regular_file(const std::filesystem::path& path, size_t max_bytes, const std::string& what) {
  return RegularFile(path).read_all(max_bytes, what);
}

}  // namespace i2i
