// A read-only memory map of a whole file, shared by every tensor that borrows from it.
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>

namespace i2i {

class MappedFile {
 public:
  // Maps `path` read-only; throws i2i::Error naming the file when it cannot be opened or mapped.
  static std::shared_ptr<MappedFile> open(const std::filesystem::path& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const unsigned char* data() const { return data_; }
  size_t size() const { return size_; }
  const std::filesystem::path& path() const { return path_; }

 private:
  MappedFile() = default;
  std::filesystem::path path_;
  const unsigned char* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace i2i
