// Loading a Stable Diffusion VAE (AutoencoderKL) from a diffusers folder or an original-layout single file.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "models/vae.h"

namespace i2i {

// `dir` is a diffusers pipeline folder (with vae/) or the vae folder itself.
AutoencoderKL load_vae_diffusers(const std::filesystem::path& dir, Precision precision = Precision::F32);

// A single-file checkpoint (`first_stage_model.*`). `config` is a diffusers VAE config (e.g. the sidecar's
// `vae` entry) for the group count and scaling factor; without it the real models' defaults apply.
AutoencoderKL load_vae_single_file(const std::filesystem::path& file, const nlohmann::json* config = nullptr,
                                   Precision precision = Precision::F32,
                                   const std::string& config_origin = "");

}  // namespace i2i
