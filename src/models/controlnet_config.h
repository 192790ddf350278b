// ControlNetConfig: the architecture of a Stable Diffusion 1.x / 2.x ControlNet (diffusers ControlNetModel):
// the UNet encoder half it copies (a UNetConfig whose up-block and output fields are unused) and the
// conditioning embedding that brings the control image down to the latent size.
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "models/unet_config.h"
#include "models/weights.h"

namespace i2i {

struct ControlNetConfig {
  // in_channels, block_out_channels, cross_attention, layers_per_block, heads, transformer depths,
  // cross_attention_dim, projections, groups / eps, time embedding: as the UNet the ControlNet was made from.
  UNetConfig unet;
  int64_t conditioning_channels = 3;
  // Widths of the conditioning embedding's convolutions: conv_in to [0], then per step i a 3x3 conv at [i]
  // and a stride-2 3x3 conv to [i + 1]; conv_out to block_out_channels[0]. The control image is
  // 2^(size - 1) times the latent size (8 for the real models' (16, 32, 96, 256)).
  std::vector<int64_t> conditioning_embedding_out_channels = {16, 32, 96, 256};
  bool bgr = false;  // controlnet_conditioning_channel_order "bgr": the control image's channels are flipped

  int downscale() const { return 1 << (conditioning_embedding_out_channels.size() - 1); }
  // Throws i2i::Error (prefixed with `origin`) when the configuration is inconsistent.
  void validate(const std::string& origin) const;
};

// From a diffusers ControlNetModel config (the json object): its UNet fields as unet_config_from_json (the
// up blocks mirror the down blocks), plus conditioning_channels, conditioning_embedding_out_channels and
// controlnet_conditioning_channel_order. global_pool_conditions (shuffle ControlNets) is rejected.
ControlNetConfig controlnet_config_from_json(const nlohmann::json& j,
                                             const std::string& origin = "controlnet config");
ControlNetConfig controlnet_config_from_file(const std::filesystem::path& path);

// Everything tensor shapes tell from diffusers-named ControlNet weights (the UNet fields as
// infer_unet_config, the conditioning embedding widths and channels); the rest from `json` (a diffusers
// ControlNet config) when given, else the real models' defaults.
// Errors about `json`'s fields name `config_origin` (as infer_unet_config), or "<weights> (config)".
ControlNetConfig infer_controlnet_config(const Weights& w, const nlohmann::json* json = nullptr,
                                         const std::string& config_origin = "");

}  // namespace i2i
