// Linear layer y = x W^T + b over the last dimension, weights prepared once at construction.
#pragma once

#include <memory>
#include <vector>

#include "core/tensor.h"
#include "kernels/precision.h"

namespace i2i {

class Linear {
 public:
  Linear() = default;
  // weight [out, in] in any float dtype (F32/F16/BF16); bias [out] or an undefined Tensor for none.
  Linear(const Tensor& weight, const Tensor& bias, Precision precision = Precision::F32);
  // The row blocks `weights` ([out_i, in] each, any float dtype) stacked in order into one layer, with one
  // bias per block (or none at all): several layers that read the same input as one GEMM (CLIP's q, k, v).
  Linear(std::vector<Tensor> weights, std::vector<Tensor> biases, Precision precision = Precision::F32);
  // x [..., in] float32 -> [..., out]; when `residual` is given (shape of the output), it is added.
  Tensor operator()(const Tensor& x, const Tensor* residual = nullptr) const;
  // gelu(x W^T + b) (the exact, erf GELU), the activation applied by the product's own epilogue where the
  // backend has one (oneDNN's eltwise post-op: no second pass over the output).
  Tensor forward_gelu(const Tensor& x) const;
  // out += x W^T (+ b) in place: x [..., in], out float32 of the output's shape (may be a view, e.g. rows
  // of a larger tensor).
  void accumulate(const Tensor& x, Tensor& out) const;
  int64_t in_features() const { return in_; }
  int64_t out_features() const { return out_; }
  // Built (prepared, or released and still knowing its source).
  bool defined() const { return impl_ != nullptr || source_ != nullptr; }
  // Holds prepared weights and can run.
  bool prepared() const { return impl_ != nullptr; }

  // What the layer was prepared from, as given (views of a mapped file stay views: nothing is copied): the
  // weight's row blocks (one unless built from several), their biases (empty: none) and the precision.
  // Code that changes weights (LoRA, models/lora_apply.h) starts from these every time, so that changes
  // never accumulate and going back gives the original layer bit for bit.
  struct Source {
    std::vector<Tensor> weights, biases;
    Precision precision = Precision::F32;
  };
  const Source& source() const;
  // A layer prepared like this one (same bias, precision and source) from `weight`, float32 [out, in] (the
  // row blocks stacked).
  Linear with_weight(const Tensor& weight) const;
  // The layer prepared again from its source: the layer as it was built, bit for bit.
  Linear rebuilt() const;
  // The layer without its prepared weights (the same source, shape and precision): the prepared copy is
  // freed once no other Linear shares it, and the layer cannot run until prepared again (rebuilt(),
  // with_weight()). A model that needs a layer only now and then (the text encoders while the UNet runs)
  // keeps only the source, a view of the mapped file.
  Linear released() const;

  struct Impl;

 private:
  // Throws unless the layer is prepared and `x` ends in in_features() features; the output's shape.
  Shape checked_output_shape(const Tensor& x) const;
  std::shared_ptr<const Impl> impl_;
  std::shared_ptr<const Source> source_;
  int64_t in_ = 0, out_ = 0;
};

}  // namespace i2i
