// UNetConfig: the architecture of a Stable Diffusion 1.x / 2.x / SDXL UNet (diffusers UNet2DConditionModel),
// read from a diffusers `unet/config.json`, the `unet` entry of a fixtures sidecar, or inferred from the
// tensor shapes of a checkpoint (with the json, when given, supplying what shapes cannot tell).
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "models/weights.h"

namespace i2i {

struct UNetConfig {
  int64_t in_channels = 4;  // 9 for inpainting UNets
  int64_t out_channels = 4;
  std::vector<int64_t> block_out_channels = {320, 640, 1280, 1280};
  // Per level (down order): whether the level's down block has transformers (CrossAttnDownBlock2D).
  // The up block of level i mirrors it (diffusers: up_block_types reversed).
  std::vector<bool> cross_attention = {true, true, true, false};
  int layers_per_block = 2;            // resnets per down block (up blocks have one more)
  std::vector<int> heads;              // attention heads per level (down order); the mid block uses the last
  std::vector<int> transformer_depth;  // BasicTransformerBlocks per transformer, per level
  int mid_transformer_depth = 1;
  int64_t cross_attention_dim = 768;
  bool use_linear_projection = false;  // proj_in/proj_out as Linear (SD 2.x) or 1x1 conv (SD 1.x)
  bool upcast_attention = false;       // SD 2.1: attention in fp32 (i2i always computes it in fp32)
  int norm_num_groups = 32;
  float norm_eps = 1e-5f;
  bool flip_sin_to_cos = true;
  float freq_shift = 0;
  int64_t time_proj_dim = 320;    // sinusoid width (block_out_channels[0])
  int64_t time_embed_dim = 1280;  // time MLP width (4 * block_out_channels[0])
  // LCM-distilled UNets (diffusers time_cond_proj_dim): the width of the guidance-scale embedding that
  // time_embedding.cond_proj adds to the sinusoid; 0 = none. Such a UNet runs without CFG.
  int64_t time_cond_proj_dim = 0;
  bool center_input_sample = false;
  // SDXL added conditioning (diffusers addition_embed_type "text_time"): each time id goes through the
  // sinusoid of width `addition_time_embed_dim` (same flip / shift as the timestep one); the pooled text
  // embedding and the flattened id embeddings, concatenated, feed add_embedding (Linear, SiLU, Linear of
  // `projection_class_embeddings_input_dim` inputs), added to the time embedding. 0 = no added embedding.
  int64_t addition_time_embed_dim = 0;
  int64_t projection_class_embeddings_input_dim = 0;
  float mid_block_scale_factor = 1;
  float resnet_out_scale_factor = 1;

  int levels() const { return static_cast<int>(block_out_channels.size()); }
  bool has_text_time() const { return projection_class_embeddings_input_dim > 0; }
  // The number of time ids a pooled embedding of `pooled_dim` leaves room for (SDXL base 6, refiner 5), or
  // -1 when the widths do not add up.
  int64_t time_id_count(int64_t pooled_dim) const;
  // Throws i2i::Error (prefixed with `origin`) when the configuration is inconsistent.
  void validate(const std::string& origin) const;
};

// From a diffusers UNet2DConditionModel config (the json object). Features i2i does not implement
// (class embeddings, other added-embedding types, other block types, ...) are rejected with an i2i::Error.
UNetConfig unet_config_from_json(const nlohmann::json& j, const std::string& origin = "unet config");
// Reads `path` (a config.json) and parses it as above.
UNetConfig unet_config_from_file(const std::filesystem::path& path);

// Derives everything tensor shapes can tell from diffusers-named UNet weights (block_out_channels, levels,
// layers per block, which levels have attention, in/out channels, cross-attention dim, linear projection,
// transformer depth, time embedding widths, SDXL's add_embedding input width). The rest (heads, groups,
// eps, upcast, sinusoid options, addition_time_embed_dim) comes from `json` (a diffusers UNet config) when
// given, else the real models' defaults: 32 groups, 8 heads per level for 1x1-conv projections (SD 1.x) or
// head dim 64 for Linear projections (SD 2.x, SDXL), and SDXL's addition_time_embed_dim 256.
// Errors about `json`'s fields name `config_origin` (the sidecar or --model-config file and its entry, see
// Checkpoint::config_origins), or "<weights> (config)" when it is empty.
UNetConfig infer_unet_config(const Weights& w, const nlohmann::json* json = nullptr,
                             const std::string& config_origin = "");

}  // namespace i2i
