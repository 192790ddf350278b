// CLIP text encoder with Hugging Face CLIPTextModel / CLIPTextModelWithProjection semantics: token +
// position embeddings, pre-LayerNorm transformer layers with causal self-attention (no padding mask), a final
// LayerNorm, the pooled EOS state and optionally its projection.
//
// Weights (Hugging Face names, any float dtype; loaders in clip_text_loader.h convert other layouts):
//   text_model.embeddings.token_embedding.weight [vocab, hidden]
//   text_model.embeddings.position_embedding.weight [positions, hidden]
//   text_model.encoder.layers.N.{layer_norm1, layer_norm2}.{weight, bias} [hidden]
//   text_model.encoder.layers.N.self_attn.{q,k,v,out}_proj.{weight [hidden, hidden], bias [hidden]}
//   text_model.encoder.layers.N.mlp.fc1.{weight [inter, hidden], bias}, mlp.fc2.{weight [hidden, inter],
//   bias} text_model.final_layer_norm.{weight, bias} [hidden] text_projection.weight [projection, hidden]
//   (only when config.projection_dim > 0; no bias)
#pragma once

#include <string>
#include <vector>

#include "core/tensor.h"
#include "kernels/linear.h"
#include "kernels/precision.h"
#include "models/clip_layer.h"
#include "models/clip_text_config.h"
#include "models/layer_visitor.h"
#include "models/weights.h"

namespace i2i {

struct ClipTextOptions {
  // Keep every hidden state (embeddings output, then each layer's output; before the final LayerNorm).
  bool output_hidden_states = false;
  // Which earlier state `skipped` holds: hidden_states[-1 - skip], 0 <= skip <= num_layers. 1 (default) is
  // the penultimate layer. diffusers' clip_skip c is skip = c in SD 1.x/2.x pipelines (used with the final
  // LayerNorm) and skip = c + 1 in SDXL (without it); A1111's "Clip skip N" is skip = N - 1.
  int skip = 1;
  // Input vectors put in place of token-embedding rows (textual inversion): `vectors` [n, hidden] float32
  // replace the token embeddings at positions position .. position + n - 1 of batch item `batch`; the
  // position embeddings are added to them as to every token's (A1111's EmbeddingsWithFixes, diffusers'
  // added tokens). The ids at those positions are not looked up (any id in the vocabulary will do) but
  // still choose the pooled position.
  struct TokenVectors {
    int64_t batch = 0;
    int64_t position = 0;
    Tensor vectors;
  };
  std::vector<TokenVectors> token_vectors;
};

struct ClipTextOutput {
  std::vector<Tensor> hidden_states;  // num_layers + 1 tensors [B, T, hidden] when requested, else empty
  Tensor last_hidden_state;           // final_layer_norm(hidden_states[-1]) [B, T, hidden]
  Tensor skipped;                     // hidden_states[-1 - skip] [B, T, hidden]
  Tensor skipped_final_ln;            // final_layer_norm(skipped)
  Tensor pooled;       // last_hidden_state at the first maximum id of each row (the EOS) [B, hidden]
  Tensor text_embeds;  // pooled @ projection^T [B, projection]; undefined without a projection
};

class ClipTextEncoder {
 public:
  ClipTextEncoder() = default;
  // Reads and checks every tensor (errors name the tensor and its origin) and prepares the Linear layers at
  // `precision`. Only layers 0 .. config.num_layers - 1 are used. Embedding tables stay views of `w`.
  ClipTextEncoder(const Weights& w, const ClipTextConfig& config, Precision precision = Precision::F32);

  // ids [B, T] (int64 or int32), T <= max_positions, every id < vocab_size.
  ClipTextOutput forward(const Tensor& ids, const ClipTextOptions& options = {}) const;

  const ClipTextConfig& config() const { return config_; }
  bool defined() const { return !layers_.empty(); }

  // Its prepared layers, named `prefix` + the Hugging Face module path
  // ("text_model.encoder.layers.0.mlp.fc1") (models/layer_visitor.h).
  void visit_layers(const std::string& prefix, const LayerVisitor& f);

 private:
  Tensor embed(const Tensor& ids, const std::vector<ClipTextOptions::TokenVectors>& token_vectors) const;
  Tensor final_ln(const Tensor& x) const;

  ClipTextConfig config_;
  std::string origin_;
  Tensor token_embedding_;     // [vocab, hidden], stored dtype
  Tensor position_embedding_;  // [positions, hidden], float32
  std::vector<ClipEncoderLayer> layers_;
  Tensor final_w_, final_b_;  // float32
  Linear projection_;         // defined when projection_dim > 0
};

}  // namespace i2i
