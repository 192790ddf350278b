#include "models/unet_layers.h"

#include "kernels/ops.h"

namespace i2i {

Tensor GroupNorm::operator()(const Tensor& x, bool silu, DType out) const {
  return ops::group_norm(x, groups, gamma, beta, eps, silu, out);
}

Tensor LayerNorm::operator()(const Tensor& x) const {
  return ops::layer_norm(x, gamma, beta, eps);
}

GroupNorm load_group_norm(const Weights& w, const std::string& name, int64_t channels, int groups,
                          float eps) {
  GroupNorm n;
  n.gamma = w.get(name + ".weight", {channels}).to(DType::F32);
  n.beta = w.get(name + ".bias", {channels}).to(DType::F32);
  n.groups = groups;
  n.eps = eps;
  return n;
}

LayerNorm load_layer_norm(const Weights& w, const std::string& name, int64_t channels, float eps) {
  LayerNorm n;
  n.gamma = w.get(name + ".weight", {channels}).to(DType::F32);
  n.beta = w.get(name + ".bias", {channels}).to(DType::F32);
  n.eps = eps;
  return n;
}

Linear load_linear(const Weights& w, const std::string& name, int64_t out, int64_t in, bool bias,
                   Precision precision) {
  const Tensor& weight = w.get(name + ".weight", {out, in});
  Tensor b = bias ? w.get(name + ".bias", {out}) : Tensor();
  return Linear(weight, b, precision);
}

Linear load_pointwise_conv_as_linear(const Weights& w, const std::string& name, int64_t out, int64_t in,
                                     Precision precision) {
  const Tensor& weight = w.get(name + ".weight", {out, in, 1, 1});
  return Linear(weight.reshape({out, in}), w.get(name + ".bias", {out}), precision);
}

Conv2d load_conv(const Weights& w, const std::string& name, int64_t out, int64_t in, int k, int stride,
                 Padding padding, Precision precision) {
  const Tensor& weight = w.get(name + ".weight", {out, in, k, k});
  return Conv2d(weight, w.get(name + ".bias", {out}), stride, padding, precision);
}

}  // namespace i2i
