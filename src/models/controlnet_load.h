// Loading a ControlNet from a diffusers folder (config.json + diffusion_pytorch_model[.fp16].safetensors),
// a diffusers weights file on its own, or an original-layout single file (lllyasviel ControlNet / cldm,
// tensors `control_model.*`). The weights stay memory-mapped views in the file's dtype.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "io/safetensors.h"
#include "models/checkpoint.h"
#include "models/controlnet.h"

namespace i2i {

// The diffusers name of one original-layout ControlNet name (relative to the `control_model.` prefix), or ""
// when it has none: time_embed / input_blocks / middle_block as the UNet (ldm_unet_key_to_diffusers);
// input_hint_block.(2c) is conditioning convolution c (SiLU modules sit at the odd indices): c = 0 ->
// controlnet_cond_embedding.conv_in, the last (c = hint_convs - 1) -> ...conv_out, the others ->
// ...blocks.(c - 1); zero_convs.N.0 -> controlnet_down_blocks.N; middle_block_out.0 -> controlnet_mid_block.
// `layers_per_block`: resnets per down block; `hint_convs`: convolutions in input_hint_block (8 in the real
// models and the fixtures).
std::string ldm_controlnet_key_to_diffusers(const std::string& key, int layers_per_block, int hint_convs);

// Every tensor under `prefix` as diffusers names; a tensor there without a diffusers counterpart is an
// error naming it, tensors outside the prefix are ignored.
Weights controlnet_weights_from_ldm(const SafeTensors& st, const std::string& prefix = "control_model.");

// `dir` holds config.json (ControlNetModel) and the weights; or `dir/controlnet/` does.
ControlNet load_controlnet_diffusers(const std::filesystem::path& dir, Precision precision = Precision::F32);

// A single file: original layout (`control_model.*`) or diffusers names. `config` is a diffusers
// ControlNet config (e.g. the `controlnet` entry of a sidecar) for what shapes cannot tell; without it the
// real models' defaults apply (32 groups, 8 heads / head dim 64).
ControlNet load_controlnet_single_file(const std::filesystem::path& file,
                                       const nlohmann::json* config = nullptr,
                                       Precision precision = Precision::F32,
                                       const std::string& config_origin = "");

// From an opened checkpoint (open_checkpoint classifies ControlNet folders and files and gathers the
// sidecar's `controlnet` config). i2i::Error naming the path when it is not a ControlNet.
ControlNet load_controlnet(const Checkpoint& checkpoint, Precision precision = Precision::F32);

}  // namespace i2i
