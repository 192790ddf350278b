// Architecture of a CLIP text encoder (Hugging Face CLIPTextConfig semantics), and how it is obtained:
// the sizes from the weights' shapes, the rest (heads, activation) from a config or the real models'
// defaults.
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>

#include "models/clip_layer.h"
#include "models/weights.h"

namespace i2i {

struct ClipTextConfig {
  int64_t vocab_size = 49408;
  int64_t hidden_size = 768;
  int64_t intermediate_size = 3072;
  int64_t max_positions = 77;
  int num_heads = 12;
  // Transformer layers the encoder builds and runs (the weights may hold more: SD 2.x single files carry one
  // unused block; the extra ones are ignored).
  int num_layers = 12;
  ClipActivation activation = ClipActivation::QuickGelu;
  float layer_norm_eps = 1e-5f;
  int64_t projection_dim =
      0;  // > 0: text_projection.weight [projection_dim, hidden] (CLIPTextModelWithProjection)
};

// The configuration of the encoder stored in `w` under Hugging Face names (see clip_text.h). Sizes are read
// from shapes: vocab and hidden (token embedding), positions, layers present, intermediate (layer 0's fc1),
// projection (text_projection.weight, only when `with_projection`). `hf_config` (a diffusers / transformers
// config.json object, or the fixtures' sidecar entry; may be null) supplies num_attention_heads, hidden_act
// and layer_norm_eps, and its sizes must agree with the shapes; without it the heads are hidden / 64 and the
// activation is `default_activation`. `layers_to_use` (-1: all layers present) sets num_layers; a config's
// num_hidden_layers must equal it. Throws i2i::Error naming the file and tensor or field at fault: for a
// config field, `config_origin` (the config.json; "": the weights' origin).
ClipTextConfig infer_clip_text_config(const Weights& w, const nlohmann::json* hf_config,
                                      ClipActivation default_activation, bool with_projection,
                                      int layers_to_use = -1, const std::string& config_origin = "");

// How many `text_model.encoder.layers.N.` blocks `w` holds (N = 0, 1, ... without gaps).
int count_clip_layers(const Weights& w);

}  // namespace i2i
