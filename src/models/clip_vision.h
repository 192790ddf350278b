// CLIP vision encoder with transformers CLIPVisionModel / CLIPVisionModelWithProjection semantics (4.38), the
// image encoder of IP-Adapter (diffusers' encode_image):
//   1. patches: conv(pixel_values, patch x patch, stride patch, no bias) -> grid x grid tokens in row-major
//      (y, then x) order; the class embedding prepended; position embeddings added -> `embeddings`;
//   2. hidden_states[0] = pre_layrnorm(embeddings), hidden_states[i] = CLIP encoder layer i (pre-LN, as the
//      text encoder's, but without any attention mask; clip_layer.h);
//   3. last_hidden_state = hidden_states[-1] (no final LayerNorm), pooler_output =
//      post_layernorm(last_hidden_state[:, 0]), image_embeds = visual_projection(pooler_output).
//
// Weights (transformers names, any float dtype):
//   vision_model.embeddings.class_embedding [hidden]
//   vision_model.embeddings.patch_embedding.weight [hidden, channels, patch, patch]
//   vision_model.embeddings.position_embedding.weight [grid^2 + 1, hidden]
//   vision_model.pre_layrnorm.{weight, bias} (sic), vision_model.post_layernorm.{weight, bias} [hidden]
//   vision_model.encoder.layers.N.* (clip_layer.h)
//   visual_projection.weight [projection, hidden] (only when config.projection_dim > 0; no bias)
#pragma once

#include <string>
#include <vector>

#include "core/tensor.h"
#include "kernels/conv2d.h"
#include "kernels/linear.h"
#include "kernels/precision.h"
#include "models/clip_layer.h"
#include "models/clip_vision_config.h"
#include "models/weights.h"

namespace i2i {

struct ClipVisionOptions {
  // Keep every hidden state (pre_layrnorm output, then each layer's output).
  bool output_hidden_states = false;
  // Stop at hidden_states[-2] (what IP-Adapter plus uses): the last layer, the pooler and the projection
  // are not run, and last_hidden_state / pooler_output / image_embeds stay undefined.
  bool penultimate_only = false;
};

struct ClipVisionOutput {
  Tensor embeddings;                  // class + patches + positions, before pre_layrnorm [B, T, hidden]
  std::vector<Tensor> hidden_states;  // num_layers + 1 tensors [B, T, hidden] when requested, else empty
  Tensor penultimate;                 // hidden_states[-2] [B, T, hidden]
  Tensor last_hidden_state;           // hidden_states[-1] [B, T, hidden]
  Tensor pooler_output;               // post_layernorm(last_hidden_state[:, 0]) [B, hidden]
  Tensor image_embeds;                // pooler_output @ projection^T [B, projection]; undefined without one
};

class ClipVisionEncoder {
 public:
  ClipVisionEncoder() = default;
  // Reads and checks every tensor (errors name the tensor and its origin) and prepares the layers at
  // `precision` (Linear and the patch convolution; normalisation and attention in float32).
  ClipVisionEncoder(const Weights& w, const ClipVisionConfig& config, Precision precision = Precision::F32);

  // pixel_values float32 NHWC [B, image_size, image_size, channels] (clip_image_pixels gives [1, 224, 224,
  // 3]); batch the pictures of one request to run them together.
  ClipVisionOutput forward(const Tensor& pixel_values, const ClipVisionOptions& options = {}) const;

  const ClipVisionConfig& config() const { return config_; }
  // Where the weights came from (a folder or file), for messages.
  const std::string& origin() const { return origin_; }
  bool defined() const { return !layers_.empty(); }
  bool has_projection() const { return projection_.defined(); }

 private:
  Tensor embed(const Tensor& pixel_values) const;

  ClipVisionConfig config_;
  std::string origin_;
  Conv2d patch_embedding_;
  Tensor class_embedding_;     // [hidden], float32
  Tensor position_embedding_;  // [tokens, hidden], float32
  Tensor pre_w_, pre_b_, post_w_, post_b_;
  std::vector<ClipEncoderLayer> layers_;
  Linear projection_;  // defined when projection_dim > 0
};

}  // namespace i2i
