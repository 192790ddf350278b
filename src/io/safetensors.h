// safetensors files: a zero-copy, memory-mapped reader that treats every file as hostile (every
// header field is validated before any data is touched), and a writer.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "io/mapped_file.h"

namespace i2i {

struct TensorInfo {
  DType dtype;
  Shape shape;
  size_t begin = 0;  // byte offsets into the data section
  size_t end = 0;
};

class SafeTensors {
 public:
  // Opens and validates; throws i2i::Error naming the file (and tensor) on any problem.
  static SafeTensors open(const std::filesystem::path& path);

  const std::filesystem::path& path() const { return file_->path(); }
  bool contains(const std::string& name) const { return infos_.count(name) != 0; }
  const TensorInfo& info(const std::string& name) const;
  // Tensor names in file order of their data.
  const std::vector<std::string>& names() const { return names_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // Byte offset of the data section in the file (8 + the header's length).
  size_t data_start() const { return data_start_; }

  // A view of the mapped bytes in the file's own dtype (no copy). Misaligned data is copied.
  Tensor get(const std::string& name) const;
  // The tensor converted to float32 (copied unless already float32 and aligned).
  Tensor get_f32(const std::string& name) const;

  // The same file with each tensor named `rename(stored name)` (loaders that expect one naming scheme
  // read files saved in another, e.g. models/checkpoint.cpp's layouts). The mapping is shared, nothing is
  // copied; metadata and order stay. Throws i2i::Error naming the file when two tensors get one name.
  SafeTensors renamed(const std::function<std::string(const std::string&)>& rename) const;

 private:
  std::shared_ptr<MappedFile> file_;
  size_t data_start_ = 0;
  std::map<std::string, TensorInfo> infos_;
  std::vector<std::string> names_;
  std::map<std::string, std::string> metadata_;
};

// Writes `tensors` (in the given order) and optional metadata to `path`.
void write_safetensors(const std::filesystem::path& path,
                       const std::vector<std::pair<std::string, Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace i2i
