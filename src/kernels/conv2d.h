// 2-D convolution on channels-last activations, weights prepared once at construction.
#pragma once

#include <memory>

#include "core/tensor.h"
#include "kernels/precision.h"

namespace i2i {

struct Padding {
  int top = 0, left = 0, bottom = 0, right = 0;
  static Padding same(int p) { return {p, p, p, p}; }
};

class Conv2d {
 public:
  Conv2d() = default;
  // weight [out, in, kh, kw] (PyTorch OIHW) in any float dtype; bias [out] or undefined; any kernel size.
  Conv2d(const Tensor& weight, const Tensor& bias, int stride, Padding padding,
         Precision precision = Precision::F32);
  Conv2d(const Tensor& weight, const Tensor& bias, int stride = 1, int padding = 0,
         Precision precision = Precision::F32)
      : Conv2d(weight, bias, stride, Padding::same(padding), precision) {}
  // x [N, H, W, in] float32 (or bf16) -> [N, H', W', out] float32; when `residual` is given (shape of the
  // output), it is added.
  Tensor operator()(const Tensor& x, const Tensor* residual = nullptr) const;
  // The input type the layer computes in: BF16 for bf16 layers on CPUs with native bf16, else F32. A
  // producer writing this type directly (e.g. ops::group_norm(..., out)) saves a float32 copy and a
  // conversion pass; a bf16 input gives the same result as its float32 value.
  DType input_dtype() const;
  // The convolution of nearest-neighbour 2x upsampled x ([N, H, W, in] -> conv of [N, 2H, 2W, in]): the
  // same result as (*this)(ops::upsample_nearest2x(x)), bit for bit, without the float32 upsampled copy
  // (the upsampled input is written once, in the layer's compute type).
  Tensor upsampled2x(const Tensor& x) const;
  int64_t in_channels() const { return in_; }
  int64_t out_channels() const { return out_; }
  bool defined() const { return impl_ != nullptr; }

  // What the layer was prepared from, as given (a view of a mapped file stays a view), for code that changes
  // weights (see Linear::Source).
  struct Source {
    Tensor weight, bias;
    int stride = 1;
    Padding padding;
    Precision precision = Precision::F32;
  };
  const Source& source() const;
  // A layer prepared like this one (same bias, geometry, precision and source) from `weight`, float32
  // [out, in, kh, kw].
  Conv2d with_weight(const Tensor& weight) const;
  // The layer prepared again from its source: the layer as it was built, bit for bit.
  Conv2d rebuilt() const;

  struct Impl;

 private:
  std::shared_ptr<const Impl> impl_;
  std::shared_ptr<const Source> source_;
  int64_t in_ = 0, out_ = 0;
};

}  // namespace i2i
