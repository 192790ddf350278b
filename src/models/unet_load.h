// Loading a Stable Diffusion 1.x / 2.x UNet from a diffusers folder or an original-layout single file.
// The weights stay memory-mapped views in the file's dtype (fp16 / fp32); the layers convert them.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "models/unet.h"

namespace i2i {

// `<dir>/diffusion_pytorch_model.safetensors` (or the `.fp16.safetensors` variant) of a diffusers
// component folder, under its own names. i2i::Error naming the folder when absent.
Weights diffusers_component_weights(const std::filesystem::path& component_dir);

// `dir` is a diffusers pipeline folder (with unet/) or the unet folder itself (config.json + weights).
UNet2DCondition load_unet_diffusers(const std::filesystem::path& dir, Precision precision = Precision::F32);

// A single-file checkpoint (`model.diffusion_model.*`). `config` is a diffusers UNet config (e.g. the
// `unet` entry of a sidecar json) for what shapes cannot tell; without it the real models' defaults apply.
UNet2DCondition load_unet_single_file(const std::filesystem::path& file,
                                      const nlohmann::json* config = nullptr,
                                      Precision precision = Precision::F32,
                                      const std::string& config_origin = "");

}  // namespace i2i
