#include "models/clip_vision.h"

#include <cstring>

#include "core/error.h"
#include "kernels/ops.h"

namespace i2i {

namespace {

Tensor f32_param(const Weights& w, const std::string& name, const Shape& shape) {
  const Tensor& t = w.get(name, shape);
  check(dtype_is_float(t.dtype()), w.origin() + ": tensor '" + w.full_name(name) + "' is not floating point");
  return t.to(DType::F32);
}

}  // namespace

ClipVisionEncoder::ClipVisionEncoder(const Weights& w, const ClipVisionConfig& config, Precision precision)
    : config_(config), origin_(w.origin()) {
  const int64_t h = config.hidden_size, p = config.patch_size;
  check(config.num_layers > 0 && config.num_heads > 0 && h > 0 && h % config.num_heads == 0 && p > 0 &&
            config.image_size > 0 && config.image_size % p == 0 && config.num_channels > 0,
        origin_ + ": invalid CLIP vision config (" + std::to_string(config.num_layers) + " layers, hidden " +
            std::to_string(h) + ", " + std::to_string(config.num_heads) + " heads, image " +
            std::to_string(config.image_size) + ", patch " + std::to_string(p) + ")");
  const std::string e = "vision_model.embeddings.";
  const Tensor& patch = w.get(e + "patch_embedding.weight", {h, config.num_channels, p, p});
  check(dtype_is_float(patch.dtype()),
        origin_ + ": tensor '" + w.full_name(e + "patch_embedding.weight") + "' is not floating point");
  patch_embedding_ = Conv2d(patch, Tensor(), static_cast<int>(p), 0, precision);
  class_embedding_ = f32_param(w, e + "class_embedding", {h});
  position_embedding_ = f32_param(w, e + "position_embedding.weight", {config.num_tokens(), h});
  pre_w_ = f32_param(w, "vision_model.pre_layrnorm.weight", {h});
  pre_b_ = f32_param(w, "vision_model.pre_layrnorm.bias", {h});
  const ClipLayerSpec spec{h,
                           config.intermediate_size,
                           config.num_heads,
                           config.activation,
                           config.layer_norm_eps,
                           /*causal=*/false};
  layers_.reserve(static_cast<size_t>(config.num_layers));
  for (int i = 0; i < config.num_layers; ++i)
    layers_.emplace_back(w, "vision_model.encoder.layers." + std::to_string(i) + ".", spec, precision);
  post_w_ = f32_param(w, "vision_model.post_layernorm.weight", {h});
  post_b_ = f32_param(w, "vision_model.post_layernorm.bias", {h});
  if (config.projection_dim > 0)
    projection_ = Linear(w.get("visual_projection.weight", {config.projection_dim, h}), Tensor(), precision);
}

Tensor ClipVisionEncoder::embed(const Tensor& pixel_values) const {
  const int64_t b = pixel_values.dim(0), h = config_.hidden_size, g = config_.grid();
  const Tensor patches = patch_embedding_(pixel_values);  // [B, grid, grid, hidden]
  const int64_t tokens = config_.num_tokens();
  Tensor x = Tensor::empty({b, tokens, h});
  const float* pos = position_embedding_.data<float>();
  const float* cls = class_embedding_.data<float>();
  const float* src = patches.data<float>();
  float* dst = x.data<float>();
  for (int64_t bi = 0; bi < b; ++bi) {
    float* row = dst + bi * tokens * h;
    for (int64_t c = 0; c < h; ++c) row[c] = cls[c] + pos[c];
    for (int64_t t = 1; t < tokens; ++t) {
      const float* s = src + (bi * g * g + (t - 1)) * h;
      for (int64_t c = 0; c < h; ++c) row[t * h + c] = s[c] + pos[t * h + c];
    }
  }
  return x;
}

ClipVisionOutput ClipVisionEncoder::forward(const Tensor& pixel_values,
                                            const ClipVisionOptions& options) const {
  check(defined(), "CLIP vision encoder used before it was loaded");
  const int64_t s = config_.image_size, ch = config_.num_channels;
  check(pixel_values.dtype() == DType::F32 && pixel_values.ndim() == 4 && pixel_values.dim(0) > 0 &&
            pixel_values.dim(1) == s && pixel_values.dim(2) == s && pixel_values.dim(3) == ch,
        "CLIP vision encoder (" + origin_ + "): pixel values must be float32 [batch, " + std::to_string(s) +
            ", " + std::to_string(s) + ", " + std::to_string(ch) + "], got " +
            std::string(dtype_name(pixel_values.dtype())) + " " + shape_str(pixel_values.shape()));

  ClipVisionOutput out;
  out.embeddings = embed(pixel_values);
  Tensor x = ops::layer_norm(out.embeddings, pre_w_, pre_b_, config_.layer_norm_eps);
  if (options.output_hidden_states) out.hidden_states.push_back(x);
  const int n = config_.num_layers;
  if (n == 1) out.penultimate = x;
  const int run = options.penultimate_only ? n - 1 : n;
  for (int i = 0; i < run; ++i) {
    x = layers_[static_cast<size_t>(i)](x);
    if (options.output_hidden_states) out.hidden_states.push_back(x);
    if (i == n - 2) out.penultimate = x;
  }
  if (options.penultimate_only) return out;
  out.last_hidden_state = x;

  const int64_t b = x.dim(0), t = x.dim(1), h = config_.hidden_size;
  Tensor cls = Tensor::empty({b, h});
  for (int64_t bi = 0; bi < b; ++bi)
    std::memcpy(cls.data<float>() + bi * h, x.data<float>() + bi * t * h,
                static_cast<size_t>(h) * sizeof(float));
  out.pooler_output = ops::layer_norm(cls, post_w_, post_b_, config_.layer_norm_eps);
  if (projection_.defined()) out.image_embeds = projection_(out.pooler_output);
  return out;
}

}  // namespace i2i
