#include "models/clip_layer.h"

#include <cmath>

#include "core/error.h"
#include "kernels/ops.h"

namespace i2i {

ClipActivation clip_activation_from_name(const std::string& name) {
  if (name == "quick_gelu") return ClipActivation::QuickGelu;
  if (name == "gelu") return ClipActivation::Gelu;
  throw Error("unsupported CLIP activation '" + name + "' (expected quick_gelu or gelu)");
}

namespace {

Tensor norm_param(const Weights& w, const std::string& name, int64_t hidden) {
  return w.get(name, {hidden}).to(DType::F32);
}

Linear linear(const Weights& w, const std::string& name, int64_t out, int64_t in, Precision precision) {
  return Linear(w.get(name + ".weight", {out, in}), w.get(name + ".bias", {out}), precision);
}

}  // namespace

ClipEncoderLayer::ClipEncoderLayer(const Weights& w, const std::string& p, const ClipLayerSpec& spec,
                                   Precision precision)
    : spec_(spec) {
  const int64_t h = spec.hidden, inter = spec.intermediate;
  check(h > 0 && inter > 0 && spec.heads > 0 && h % spec.heads == 0,
        w.origin() + ": invalid CLIP layer sizes (hidden " + std::to_string(h) + ", intermediate " +
            std::to_string(inter) + ", " + std::to_string(spec.heads) + " heads)");
  ln1_w_ = norm_param(w, p + "layer_norm1.weight", h);
  ln1_b_ = norm_param(w, p + "layer_norm1.bias", h);
  q_ = linear(w, p + "self_attn.q_proj", h, h, precision);
  k_ = linear(w, p + "self_attn.k_proj", h, h, precision);
  v_ = linear(w, p + "self_attn.v_proj", h, h, precision);
  out_ = linear(w, p + "self_attn.out_proj", h, h, precision);
  ln2_w_ = norm_param(w, p + "layer_norm2.weight", h);
  ln2_b_ = norm_param(w, p + "layer_norm2.bias", h);
  fc1_ = linear(w, p + "mlp.fc1", inter, h, precision);
  fc2_ = linear(w, p + "mlp.fc2", h, inter, precision);
}

Tensor ClipEncoderLayer::operator()(const Tensor& x) const {
  const float eps = spec_.layer_norm_eps;
  const float scale = 1.0f / std::sqrt(static_cast<float>(spec_.hidden / spec_.heads));
  Tensor h = ops::layer_norm(x, ln1_w_, ln1_b_, eps);
  Tensor a = ops::attention(q_(h), k_(h), v_(h), spec_.heads, scale, spec_.causal);
  Tensor y = out_(a, &x);
  h = ops::layer_norm(y, ln2_w_, ln2_b_, eps);
  h = fc1_(h);
  h = spec_.activation == ClipActivation::QuickGelu ? ops::quick_gelu(h) : ops::gelu(h);
  return fc2_(h, &y);
}

}  // namespace i2i
