// VaeConfig: the architecture of a Stable Diffusion AutoencoderKL (diffusers), from a diffusers
// `vae/config.json`, a fixtures sidecar's `vae` entry, or inferred from tensor shapes.
#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/error.h"
#include "models/weights.h"

namespace i2i {

struct VaeConfig {
  int64_t in_channels = 3;
  int64_t out_channels = 3;
  int64_t latent_channels = 4;
  std::vector<int64_t> block_out_channels = {128, 256, 512, 512};
  int layers_per_block = 2;  // encoder resnets per level (the decoder has one more)
  int norm_num_groups = 32;
  float scaling_factor = 0.18215f;  // latents = scaling_factor * sample of the posterior

  int levels() const { return static_cast<int>(block_out_channels.size()); }
  void validate(const std::string& origin) const;
};

// The bounds of a VAE latent scaling factor read from a config or sidecar (real ones: SD 1.x / 2.x 0.18215,
// SDXL 0.13025, others up to ~1.5): a value outside (0 divides the latents by zero, 1e300 overflows them
// into a black picture) is refused when read, naming the file and field.
constexpr double kMinVaeScalingFactor = 1e-3, kMaxVaeScalingFactor = 100.0;
// `v` as a float when finite and within the bounds; otherwise i2i::Error "<where> <v> is not a usable VAE
// scaling factor (...)", `where` naming the file and field ("x.yaml: model.params.scale_factor").
inline float checked_vae_scaling_factor(double v, const std::string& where) {
  if (!(v >= kMinVaeScalingFactor && v <= kMaxVaeScalingFactor)) {
    char text[64];
    std::snprintf(text, sizeof text, "%g", v);
    throw Error(where + " " + text +
                " is not a usable VAE scaling factor (a number between 0.001 and 100; SD 1.x / 2.x use "
                "0.18215, SDXL 0.13025)");
  }
  return static_cast<float>(v);
}

VaeConfig vae_config_from_json(const nlohmann::json& j, const std::string& origin = "vae config");
VaeConfig vae_config_from_file(const std::filesystem::path& path);
// Shapes give channels, levels, layers and latent width; `json` (when given) the group count and scaling
// factor, else the real models' 32 groups and SD 1.x/2.x's 0.18215.
// Errors about `json`'s fields name `config_origin` (as infer_unet_config), or "<weights> (config)".
VaeConfig infer_vae_config(const Weights& w, const nlohmann::json* json = nullptr,
                           const std::string& config_origin = "");

}  // namespace i2i
