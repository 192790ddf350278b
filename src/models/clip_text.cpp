#include "models/clip_text.h"

#include <cstring>

#include "core/error.h"
#include "core/phase_timer.h"
#include "kernels/ops.h"

namespace i2i {

namespace {

const std::string kLayers = "text_model.encoder.layers.";

Tensor norm_param(const Weights& w, const std::string& name, int64_t hidden) {
  return w.get(name, {hidden}).to(DType::F32);
}

// Token id at flat index i of an int64 / int32 tensor.
int64_t id_at(const Tensor& ids, int64_t i) {
  return ids.dtype() == DType::I64 ? ids.data<int64_t>()[i] : ids.data<int32_t>()[i];
}

}  // namespace

ClipTextEncoder::ClipTextEncoder(const Weights& w, const ClipTextConfig& config, Precision precision)
    : config_(config), origin_(w.origin()) {
  const phase_timer::ComponentScope component("text_encoder");
  const phase_timer::Scope timed("load");
  const int64_t h = config.hidden_size, inter = config.intermediate_size;
  check(config.num_layers > 0 && config.num_heads > 0 && h % config.num_heads == 0,
        origin_ + ": invalid CLIP text config (" + std::to_string(config.num_layers) + " layers, hidden " +
            std::to_string(h) + ", " + std::to_string(config.num_heads) + " heads)");
  token_embedding_ = w.get("text_model.embeddings.token_embedding.weight", {config.vocab_size, h});
  check(dtype_is_float(token_embedding_.dtype()),
        origin_ + ": tensor '" + w.full_name("text_model.embeddings.token_embedding.weight") +
            "' is not floating point");
  position_embedding_ =
      w.get("text_model.embeddings.position_embedding.weight", {config.max_positions, h}).to(DType::F32);
  const ClipLayerSpec spec{h,
                           inter,
                           config.num_heads,
                           config.activation,
                           config.layer_norm_eps,
                           /*causal=*/true};
  layers_.reserve(static_cast<size_t>(config.num_layers));
  for (int i = 0; i < config.num_layers; ++i)
    layers_.emplace_back(w, kLayers + std::to_string(i) + ".", spec, precision);
  final_w_ = norm_param(w, "text_model.final_layer_norm.weight", h);
  final_b_ = norm_param(w, "text_model.final_layer_norm.bias", h);
  if (config.projection_dim > 0)
    projection_ = Linear(w.get("text_projection.weight", {config.projection_dim, h}), Tensor(), precision);
}

Tensor ClipTextEncoder::embed(const Tensor& ids,
                              const std::vector<ClipTextOptions::TokenVectors>& token_vectors) const {
  const int64_t b = ids.dim(0), t = ids.dim(1), h = config_.hidden_size;
  Tensor x = Tensor::empty({b, t, h});
  const size_t row_bytes = static_cast<size_t>(h) * dtype_size(token_embedding_.dtype());
  const auto* table = static_cast<const uint8_t*>(token_embedding_.raw());
  const float* pos = position_embedding_.data<float>();
  float* dst = x.data<float>();
  for (int64_t bi = 0; bi < b; ++bi) {
    for (int64_t ti = 0; ti < t; ++ti) {
      const int64_t id = id_at(ids, bi * t + ti);
      if (id < 0 || id >= config_.vocab_size)
        throw Error("CLIP text encoder (" + origin_ + "): token id " + std::to_string(id) + " at [" +
                    std::to_string(bi) + ", " + std::to_string(ti) + "] is outside the vocabulary of " +
                    std::to_string(config_.vocab_size));
      float* row = dst + (bi * t + ti) * h;
      convert_to_f32(table + static_cast<size_t>(id) * row_bytes, token_embedding_.dtype(), row,
                     static_cast<size_t>(h));
      for (int64_t c = 0; c < h; ++c) row[c] += pos[ti * h + c];
    }
  }
  for (const ClipTextOptions::TokenVectors& v : token_vectors) {
    check(v.vectors.ndim() == 2 && v.vectors.dtype() == DType::F32 && v.vectors.dim(1) == h && v.batch >= 0 &&
              v.batch < b && v.position >= 0 && v.position + v.vectors.dim(0) <= t,
          "CLIP text encoder (" + origin_ + "): input vectors " + shape_str(v.vectors.shape()) + " at [" +
              std::to_string(v.batch) + ", " + std::to_string(v.position) + "] do not fit tokens " +
              shape_str(ids.shape()) + " of width " + std::to_string(h));
    const float* src = v.vectors.data<float>();
    for (int64_t i = 0; i < v.vectors.dim(0); ++i) {
      const int64_t ti = v.position + i;
      float* row = dst + (v.batch * t + ti) * h;
      for (int64_t c = 0; c < h; ++c) row[c] = src[i * h + c] + pos[ti * h + c];
    }
  }
  return x;
}

Tensor ClipTextEncoder::final_ln(const Tensor& x) const {
  return ops::layer_norm(x, final_w_, final_b_, config_.layer_norm_eps);
}

ClipTextOutput ClipTextEncoder::forward(const Tensor& ids, const ClipTextOptions& options) const {
  const phase_timer::ComponentScope component("text_encoder");
  const phase_timer::Scope timed("forward");
  check(defined(), "CLIP text encoder used before it was loaded");
  check(ids.ndim() == 2 && (ids.dtype() == DType::I64 || ids.dtype() == DType::I32),
        "CLIP text encoder (" + origin_ +
            "): token ids must be an int64 or int32 tensor [batch, tokens], got " +
            std::string(dtype_name(ids.dtype())) + " " + shape_str(ids.shape()));
  const int64_t b = ids.dim(0), t = ids.dim(1);
  check(t >= 1 && t <= config_.max_positions, "CLIP text encoder (" + origin_ + "): " + std::to_string(t) +
                                                  " tokens per prompt, expected 1 to " +
                                                  std::to_string(config_.max_positions));
  const int n = config_.num_layers;
  check(options.skip >= 0 && options.skip <= n, "CLIP text encoder (" + origin_ + "): cannot skip " +
                                                    std::to_string(options.skip) + " of " +
                                                    std::to_string(n) + " layers");

  ClipTextOutput out;
  Tensor x = embed(ids, options.token_vectors);
  const int skipped_index = n - options.skip;  // index into hidden_states
  if (options.output_hidden_states) out.hidden_states.push_back(x);
  if (skipped_index == 0) out.skipped = x;
  for (int i = 0; i < n; ++i) {
    x = layers_[static_cast<size_t>(i)](x);
    if (options.output_hidden_states) out.hidden_states.push_back(x);
    if (skipped_index == i + 1) out.skipped = x;
  }
  out.last_hidden_state = final_ln(x);
  out.skipped_final_ln = options.skip == 0 ? out.last_hidden_state : final_ln(out.skipped);

  // Pooled: the state at the first position holding the row's largest id (the EOS token, 49407).
  const int64_t h = config_.hidden_size;
  out.pooled = Tensor::empty({b, h});
  for (int64_t bi = 0; bi < b; ++bi) {
    int64_t best = 0;
    for (int64_t ti = 1; ti < t; ++ti)
      if (id_at(ids, bi * t + ti) > id_at(ids, bi * t + best)) best = ti;
    std::memcpy(out.pooled.data<float>() + bi * h, out.last_hidden_state.data<float>() + (bi * t + best) * h,
                static_cast<size_t>(h) * sizeof(float));
  }
  if (projection_.defined()) out.text_embeds = projection_(out.pooled);
  return out;
}

void ClipTextEncoder::visit_layers(const std::string& prefix, const LayerVisitor& f) {
  for (size_t i = 0; i < layers_.size(); ++i)
    layers_[i].visit_layers(prefix + kLayers + std::to_string(i) + ".", f);
  visit_layer(f, prefix + "text_projection", projection_);
}

}  // namespace i2i
