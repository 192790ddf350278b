// Architecture of a CLIP vision encoder (transformers CLIPVisionConfig semantics, as in the h94/IP-Adapter
// `image_encoder/` folders: OpenCLIP ViT-H/14 = hidden 1280, 32 layers, 16 heads, MLP 5120, patch 14,
// image 224, projection 1024, gelu), and how it is read: sizes from the weights' shapes, the rest (heads,
// activation, eps, image size) from config.json, whose sizes must agree with the shapes.
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>

#include "models/clip_layer.h"
#include "models/weights.h"

namespace i2i {

struct ClipVisionConfig {
  int64_t hidden_size = 1280;
  int64_t intermediate_size = 5120;
  int num_layers = 32;
  int num_heads = 16;
  int64_t num_channels = 3;
  int64_t image_size = 224;
  int64_t patch_size = 14;
  // > 0: visual_projection.weight [projection_dim, hidden] (CLIPVisionModelWithProjection); 0: none.
  int64_t projection_dim = 1024;
  ClipActivation activation = ClipActivation::Gelu;
  float layer_norm_eps = 1e-5f;

  int64_t grid() const { return image_size / patch_size; }    // patches per side
  int64_t num_tokens() const { return grid() * grid() + 1; }  // class token + patches
};

// The configuration of the vision tower stored in `w` under transformers names ("vision_model.*",
// "visual_projection.weight"). Sizes come from shapes: hidden, channels and patch (patch_embedding), layers
// present, intermediate (layer 0's fc1), positions (position_embedding), projection (only when
// `with_projection`). `hf_config` (a CLIPVisionConfig object, or a CLIPConfig whose "vision_config" is
// used; may be null) supplies num_attention_heads, hidden_act (default quick_gelu, as transformers),
// layer_norm_eps and image_size; its sizes must agree with the shapes. Without it the heads are hidden / 64
// and the image size follows from the positions. Throws i2i::Error naming the file and the tensor or field.
ClipVisionConfig infer_clip_vision_config(const Weights& w, const nlohmann::json* hf_config,
                                          bool with_projection);

// How many `vision_model.encoder.layers.N.` blocks `w` holds (N = 0, 1, ... without gaps).
int count_clip_vision_layers(const Weights& w);

}  // namespace i2i
