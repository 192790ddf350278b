// Linear layer y = x W^T + b over the last dimension, weights prepared once at construction.
#pragma once

#include <memory>

#include "core/tensor.h"
#include "kernels/precision.h"

namespace i2i {

class Linear {
 public:
  Linear() = default;
  // weight [out, in] in any float dtype (F32/F16/BF16); bias [out] or an undefined Tensor for none.
  Linear(const Tensor& weight, const Tensor& bias, Precision precision = Precision::F32);
  // x [..., in] float32 -> [..., out]; when `residual` is given (shape of the output), it is added.
  Tensor operator()(const Tensor& x, const Tensor* residual = nullptr) const;
  int64_t in_features() const { return in_; }
  int64_t out_features() const { return out_; }
  bool defined() const { return impl_ != nullptr; }

  struct Impl;

 private:
  std::shared_ptr<const Impl> impl_;
  int64_t in_ = 0, out_ = 0;
};

}  // namespace i2i
