#include "models/clip_layer.h"

#include <cmath>
#include <cstring>
#include <utility>
#include <vector>

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

void split3(const Tensor& x, Tensor& a, Tensor& b, Tensor& c) {
  const int64_t rows = x.numel() / x.dim(-1), w = x.dim(-1) / 3;
  Shape s = x.shape();
  s.back() = w;
  a = Tensor::empty(s);
  b = Tensor::empty(s);
  c = Tensor::empty(s);
  const float* src = x.data<float>();
  float* dst[3] = {a.data<float>(), b.data<float>(), c.data<float>()};
  const size_t bytes = static_cast<size_t>(w) * sizeof(float);
#pragma omp parallel for schedule(static) if (rows > 64)
  for (int64_t r = 0; r < rows; ++r)
    for (int i = 0; i < 3; ++i) std::memcpy(dst[i] + r * w, src + (r * 3 + i) * w, bytes);
}

ClipEncoderLayer::ClipEncoderLayer(const Weights& w, const std::string& p, const ClipLayerSpec& spec,
                                   Precision precision)
    : spec_(spec) {
  const int64_t h = spec.hidden, inter = spec.intermediate;
  check(h > 0 && inter > 0 && spec.heads > 0 && h % spec.heads == 0,
        w.origin() + ": invalid CLIP layer sizes (hidden " + std::to_string(h) + ", intermediate " +
            std::to_string(inter) + ", " + std::to_string(spec.heads) + " heads)");
  ln1_w_ = norm_param(w, p + "layer_norm1.weight", h);
  ln1_b_ = norm_param(w, p + "layer_norm1.bias", h);
  std::vector<Tensor> weights, biases;
  for (const char* n : {"q_proj", "k_proj", "v_proj"}) {
    const std::string name = p + "self_attn." + n;
    weights.push_back(w.get(name + ".weight", {h, h}));
    biases.push_back(w.get(name + ".bias", {h}));
    for (const char* part : {".weight", ".bias"}) {
      const DType t = w.get(name + part).dtype();
      check(t == DType::F32 || t == DType::F16 || t == DType::BF16,
            w.origin() + ": tensor '" + w.full_name(name + part) + "' must be F32, F16 or BF16, got " +
                std::string(dtype_name(t)));
    }
  }
  qkv_ = Linear(std::move(weights), std::move(biases), precision);
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
  Tensor q, k, v;
  split3(qkv_(h), q, k, v);
  Tensor a = ops::attention(q, k, v, spec_.heads, scale, spec_.causal);
  Tensor y = out_(a, &x);
  h = ops::layer_norm(y, ln2_w_, ln2_b_, eps);
  h = fc1_(h);
  h = spec_.activation == ClipActivation::QuickGelu ? ops::quick_gelu(h) : ops::gelu(h);
  return fc2_(h, &y);
}

void ClipEncoderLayer::visit_layers(const std::string& prefix, const LayerVisitor& f) {
  const std::string a = prefix + "self_attn.";
  f(LayerRef{{a + "q_proj", a + "k_proj", a + "v_proj"}, &qkv_, nullptr});
  visit_layer(f, a + "out_proj", out_);
  visit_layer(f, prefix + "mlp.fc1", fc1_);
  visit_layer(f, prefix + "mlp.fc2", fc2_);
}

}  // namespace i2i
