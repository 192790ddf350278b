// Building blocks shared by the UNet and the VAE: normalisation layers holding float32 parameters and
// loaders that create kernel layers from Weights, checking every tensor's shape (errors name the tensor).
#pragma once

#include <string>

#include "core/tensor.h"
#include "kernels/conv2d.h"
#include "kernels/linear.h"
#include "models/weights.h"

namespace i2i {

struct GroupNorm {
  Tensor gamma, beta;  // float32 [C]
  int groups = 32;
  float eps = 1e-5f;
  Tensor operator()(const Tensor& x, bool silu = false, DType out = DType::F32) const;
};

struct LayerNorm {
  Tensor gamma, beta;  // float32 [C]
  float eps = 1e-5f;
  Tensor operator()(const Tensor& x) const;
};

// `<name>.weight` / `<name>.bias` of shape [channels].
GroupNorm load_group_norm(const Weights& w, const std::string& name, int64_t channels, int groups, float eps);
LayerNorm load_layer_norm(const Weights& w, const std::string& name, int64_t channels, float eps);
// `<name>.weight` [out, in] and, when `bias`, `<name>.bias` [out].
Linear load_linear(const Weights& w, const std::string& name, int64_t out, int64_t in, bool bias,
                   Precision precision);
// A 1x1 convolution `<name>.weight` [out, in, 1, 1] (+ bias [out]) applied to tokens as a Linear layer.
Linear load_pointwise_conv_as_linear(const Weights& w, const std::string& name, int64_t out, int64_t in,
                                     Precision precision);
// `<name>.weight` [out, in, k, k] and `<name>.bias` [out].
Conv2d load_conv(const Weights& w, const std::string& name, int64_t out, int64_t in, int k, int stride,
                 Padding padding, Precision precision);

}  // namespace i2i
