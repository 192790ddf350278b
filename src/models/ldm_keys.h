// Conversion of original-layout (CompVis / A1111 single-file) checkpoints to diffusers names, as diffusers'
// convert_ldm_unet_checkpoint / convert_ldm_vae_checkpoint do. The tensors stay views into the file (in its
// own dtype); only the VAE mid-block attention's 1x1-conv weights [C, C, 1, 1] are reshaped to [C, C].
#pragma once

#include <string>
#include <vector>

#include "io/safetensors.h"
#include "models/weights.h"

namespace i2i {

// The UNet under `prefix` (input_blocks / middle_block / output_blocks, time_embed, out) as diffusers names
// (down_blocks / mid_block / up_blocks, time_embedding, conv_norm_out, conv_out). Tensors outside the prefix
// are ignored; a tensor inside it that has no diffusers counterpart is an error naming it.
Weights unet_weights_from_ldm(const SafeTensors& st, const std::string& prefix = "model.diffusion_model.");
// The VAE under `prefix` (encoder.down.N.block.M, decoder.up.N (levels reversed), mid.attn_1, ...).
Weights vae_weights_from_ldm(const SafeTensors& st, const std::string& prefix = "first_stage_model.");
// The same conversions from in-memory original-layout Weights (e.g. random_checkpoint_weights()); the
// tensors are shared, not copied.
Weights unet_weights_from_ldm(const Weights& w, const std::string& prefix = "model.diffusion_model.");
Weights vae_weights_from_ldm(const Weights& w, const std::string& prefix = "first_stage_model.");

// Every tensor of `st` whose name starts with `prefix`, with the prefix removed (diffusers files: prefix "").
Weights weights_from_safetensors(const SafeTensors& st, const std::string& prefix = "");

// The diffusers name of one original-layout name (relative to the prefix), or "" when it has none.
// `layers_per_block` is the number of resnets of a UNet down block.
std::string ldm_unet_key_to_diffusers(const std::string& key, int layers_per_block);
// The other way, for module paths (no parameter suffix): the single-file (LDM / sgm) names of the diffusers
// UNet module `module` ("down_blocks.1.attentions.0.proj_in" -> "input_blocks.4.1.proj_in"). One name, or two
// for an up block's upsampler (output_blocks.N.1.conv in a block without attentions, .2.conv with them); none
// for a module it does not know. Kohya's SDXL LoRAs name UNet layers this way.
std::vector<std::string> diffusers_unet_module_to_ldm(const std::string& module, int layers_per_block);
// `levels` is the number of VAE levels (decoder levels are numbered in reverse).
std::string ldm_vae_key_to_diffusers(const std::string& key, int levels);

}  // namespace i2i
