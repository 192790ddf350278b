// Tensor: a shape, an element type and a pointer into storage that is either owned (aligned heap
// memory) or borrowed (e.g. a memory-mapped safetensors file, kept alive by a shared owner).
// Row-major, always contiguous. Activations are channels-last: images [N, H, W, C], tokens [B, T, C].
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace i2i {

using Shape = std::vector<int64_t>;

std::string shape_str(const Shape& s);
// Product of the dimensions; throws on negative dimensions or overflow past int64.
int64_t shape_numel(const Shape& s);

enum class Device : uint8_t { CPU };

class Tensor {
 public:
  Tensor() = default;

  // Fresh, uninitialised (empty) or zero-filled CPU storage, 64-byte aligned.
  static Tensor empty(Shape shape, DType dtype = DType::F32);
  static Tensor zeros(Shape shape, DType dtype = DType::F32);
  static Tensor from_vector(Shape shape, const std::vector<float>& values);
  // Borrows `data`; `owner` keeps it alive (may be null when the caller guarantees lifetime).
  static Tensor borrow(void* data, Shape shape, DType dtype, std::shared_ptr<const void> owner);
  // A view of a read-only, private memory map of a file (see release_file_pages).
  static Tensor borrow_mapped(const void* data, Shape shape, DType dtype, std::shared_ptr<const void> owner);

  // For a view of a mapped file: tells the kernel the pages are not needed now, so they leave the resident
  // set (they are read from the file again if touched). Loaders call it once a layer holds its own prepared
  // copy, so that a file's weights and their converted form are never resident together. No-op otherwise.
  void release_file_pages() const;

  bool defined() const { return data_ != nullptr || numel() == 0; }
  const Shape& shape() const { return shape_; }
  int64_t ndim() const { return static_cast<int64_t>(shape_.size()); }
  // Size of dimension i; negative i counts from the end.
  int64_t dim(int64_t i) const;
  int64_t numel() const;
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }
  DType dtype() const { return dtype_; }
  Device device() const { return Device::CPU; }

  void* raw() { return data_; }
  const void* raw() const { return data_; }
  template <typename T>
  T* data() {
    return static_cast<T*>(data_);
  }
  template <typename T>
  const T* data() const {
    return static_cast<const T*>(data_);
  }

  // Same storage, new shape (numel must match; one dimension may be -1).
  Tensor reshape(Shape shape) const;
  // Deep copy.
  Tensor clone() const;
  // Converted copy (or the same tensor when already of that type).
  Tensor to(DType dtype) const;
  // Rows [begin, end) of the first dimension, sharing storage.
  Tensor slice0(int64_t begin, int64_t end) const;
  // Copies the first dimension's entry i out (shares storage).
  Tensor operator[](int64_t i) const {
    return slice0(i, i + 1).reshape(Shape(shape_.begin() + 1, shape_.end()));
  }

  std::vector<float> to_vector() const;  // as float32 values

 private:
  std::shared_ptr<const void> owner_;
  void* data_ = nullptr;
  Shape shape_;
  DType dtype_ = DType::F32;
  bool file_backed_ = false;
};

// Layout changes used at model boundaries (the fixtures and diffusers are NCHW; i2i computes NHWC).
Tensor nchw_to_nhwc(const Tensor& x);
Tensor nhwc_to_nchw(const Tensor& x);

}  // namespace i2i
