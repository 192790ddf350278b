#include "core/tensor.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <limits>

#include "core/error.h"
#include "core/tensor_arena.h"

namespace i2i {

std::string shape_str(const Shape& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + "]";
}

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) {
    if (d < 0) throw Error("negative dimension in shape " + shape_str(s));  // (message built only then)
    if (d != 0 && n > std::numeric_limits<int64_t>::max() / d)
      throw Error("shape " + shape_str(s) + " has too many elements");
    n *= d;
  }
  return n;
}

Tensor Tensor::empty(Shape shape, DType dtype) {
  Tensor t;
  t.shape_ = std::move(shape);
  t.dtype_ = dtype;
  size_t bytes = t.nbytes();
  if (bytes >= kArenaMinBytes) {
    void* p = arena_alloc(bytes);
    if (!p) throw OutOfMemory("out of memory allocating tensor " + shape_str(t.shape_));
    t.owner_ =
        std::shared_ptr<const void>(p, [bytes](const void* q) { arena_free(const_cast<void*>(q), bytes); });
    t.data_ = p;
    return t;
  }
  size_t rounded = (bytes + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, rounded ? rounded : 64);
  if (!p) throw OutOfMemory("out of memory allocating tensor " + shape_str(t.shape_));
  t.owner_ = std::shared_ptr<const void>(p, [](const void* q) { std::free(const_cast<void*>(q)); });
  t.data_ = p;
  return t;
}

Tensor Tensor::zeros(Shape shape, DType dtype) {
  Tensor t = empty(std::move(shape), dtype);
  std::memset(t.data_, 0, t.nbytes());
  return t;
}

Tensor Tensor::from_vector(Shape shape, const std::vector<float>& values) {
  Tensor t = empty(std::move(shape));
  check(static_cast<size_t>(t.numel()) == values.size(), "from_vector: value count does not match shape");
  std::memcpy(t.data_, values.data(), values.size() * 4);
  return t;
}

Tensor Tensor::borrow(void* data, Shape shape, DType dtype, std::shared_ptr<const void> owner) {
  Tensor t;
  t.shape_ = std::move(shape);
  t.dtype_ = dtype;
  t.data_ = data;
  t.owner_ = std::move(owner);
  return t;
}

Tensor Tensor::borrow_mapped(const void* data, Shape shape, DType dtype, std::shared_ptr<const void> owner) {
  Tensor t = borrow(const_cast<void*>(data), std::move(shape), dtype, std::move(owner));
  t.file_backed_ = true;
  return t;
}

void Tensor::release_file_pages() const {
  if (!file_backed_ || !data_) return;
  // Only whole pages inside the tensor's bytes: neighbours sharing a page stay untouched.
  const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  uintptr_t begin = (reinterpret_cast<uintptr_t>(data_) + page - 1) / page * page;
  uintptr_t end = (reinterpret_cast<uintptr_t>(data_) + nbytes()) / page * page;
  if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

int64_t Tensor::dim(int64_t i) const {
  int64_t n = ndim();
  if (i < 0) i += n;
  if (i < 0 || i >= n) throw Error("dimension index out of range for shape " + shape_str(shape_));
  return shape_[static_cast<size_t>(i)];
}

int64_t Tensor::numel() const {
  return shape_numel(shape_);
}

Tensor Tensor::reshape(Shape shape) const {
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      check(infer < 0, "reshape: more than one -1");
      infer = static_cast<int64_t>(i);
    } else {
      known *= shape[i];
    }
  }
  if (infer >= 0) {
    check(known > 0 && numel() % known == 0, "reshape: cannot infer dimension");
    shape[static_cast<size_t>(infer)] = numel() / known;
  }
  check(shape_numel(shape) == numel(), "reshape " + shape_str(shape_) + " -> " + shape_str(shape));
  Tensor t = *this;
  t.shape_ = std::move(shape);
  return t;
}

Tensor Tensor::clone() const {
  Tensor t = empty(shape_, dtype_);
  if (nbytes()) std::memcpy(t.data_, data_, nbytes());
  return t;
}

Tensor Tensor::to(DType dtype) const {
  if (dtype == dtype_) return *this;
  Tensor t = empty(shape_, dtype);
  size_t n = static_cast<size_t>(numel());
  if (dtype == DType::F32) {
    convert_to_f32(data_, dtype_, t.data<float>(), n);
  } else if (dtype_ == DType::F32) {
    convert_from_f32(data<float>(), t.data_, dtype, n);
  } else {
    std::vector<float> tmp(n);
    convert_to_f32(data_, dtype_, tmp.data(), n);
    convert_from_f32(tmp.data(), t.data_, dtype, n);
  }
  return t;
}

Tensor Tensor::slice0(int64_t begin, int64_t end) const {
  check(ndim() >= 1 && begin >= 0 && begin <= end && end <= shape_[0],
        "slice0 [" + std::to_string(begin) + ", " + std::to_string(end) + ") out of range for " +
            shape_str(shape_));
  Tensor t = *this;
  t.shape_[0] = end - begin;
  int64_t row = shape_[0] ? numel() / shape_[0] : 0;
  t.data_ = static_cast<char*>(data_) + static_cast<size_t>(begin * row) * dtype_size(dtype_);
  return t;
}

std::vector<float> Tensor::to_vector() const {
  std::vector<float> v(static_cast<size_t>(numel()));
  convert_to_f32(data_, dtype_, v.data(), v.size());
  return v;
}

namespace {
Tensor permute4(const Tensor& x, bool to_nhwc) {
  check(x.ndim() == 4, "expected a 4-d tensor, got " + shape_str(x.shape()));
  Tensor src = x.to(DType::F32);
  int64_t n = x.dim(0), a = x.dim(1), b = x.dim(2), c = x.dim(3);
  // to_nhwc: [n, C=a, H=b, W=c] -> [n, b, c, a]; else [n, H=a, W=b, C=c] -> [n, c, a, b]
  Tensor out = to_nhwc ? Tensor::empty({n, b, c, a}) : Tensor::empty({n, c, a, b});
  const float* s = src.data<float>();
  float* d = out.data<float>();
  for (int64_t i = 0; i < n; ++i)
    for (int64_t p = 0; p < a; ++p)
      for (int64_t q = 0; q < b; ++q)
        for (int64_t r = 0; r < c; ++r) {
          float v = s[((i * a + p) * b + q) * c + r];
          if (to_nhwc)
            d[((i * b + q) * c + r) * a + p] = v;
          else
            d[((i * c + r) * a + p) * b + q] = v;
        }
  return out;
}
}  // namespace

Tensor nchw_to_nhwc(const Tensor& x) {
  return permute4(x, true);
}
Tensor nhwc_to_nchw(const Tensor& x) {
  return permute4(x, false);
}

}  // namespace i2i
