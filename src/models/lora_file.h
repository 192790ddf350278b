// Reading LoRA / LoCon network files (.safetensors) in the layouts people download, as A1111's
// extensions-builtin/Lora and diffusers' LoraLoaderMixin.lora_state_dict read them:
//   kohya / A1111  <prefix>.lora_down.weight, <prefix>.lora_up.weight, <prefix>.alpha (0-d), prefixes
//                  lora_unet_<module> (SD 1.x: the diffusers UNet module path, SDXL: the sgm single-file
//                  path input_blocks_4_1_..., both with '.' written '_'), lora_te_<module> (SD 1.x / 2.x text
//                  encoder, Hugging Face CLIP path), lora_te1_ / lora_te2_ (SDXL's two text encoders).
//                  LoCon files hold 3x3 convolutions too: down [r, in, 3, 3], up [out, r, 1, 1].
//   diffusers      unet.<module>.lora.down.weight / .lora.up.weight, text_encoder[_2].<module>.
//                  lora_linear_layer.down.weight / .up.weight; no alpha (scale 1).
//   PEFT           <component>.<module>.lora_A.weight (down) / .lora_B.weight (up).
// Tensors stay views of the mapped file in its dtype (fp16 / bf16 / f32). Which layer a module changes is
// worked out against a model (lora_targets.h), since names contain '_' themselves.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace i2i {

enum class LoraComponent { Unet, TextEncoder, TextEncoder2 };
// "unet", "text_encoder", "text_encoder_2" (diffusers' component names).
const char* lora_component_name(LoraComponent c);

struct LoraModule {
  std::string
      key;  // the module's tensors' common prefix as stored ("lora_unet_mid_block_attentions_0_proj_in")
  LoraComponent component = LoraComponent::Unet;
  // The module path after the component prefix, as the file spells it: with '_' for '.' in kohya files
  // ("mid_block_attentions_0_proj_in"), dotted in diffusers / PEFT files.
  std::string name;
  bool underscored = false;     // kohya naming
  Tensor down, up;              // [r, in] / [out, r], convolutions [r, in, kh, kw] / [out, r, 1, 1]
  std::optional<double> alpha;  // none: alpha = rank (scale 1)
  int64_t rank() const { return down.dim(0); }
  double scale() const { return alpha ? *alpha / static_cast<double>(rank()) : 1.0; }
};

struct LoraFile {
  std::filesystem::path path;
  std::string format;  // "kohya", "diffusers" or "peft"
  // The model family the file was made for, from its keys (lora_te1_ / lora_te2_ / text_encoder_2: SDXL)
  // and kohya's metadata (ss_base_model_version sdxl_* / sd_v1 / sd_v2, ss_v2): "SDXL", "SD 1.x", "SD 2.x"
  // or "" when nothing tells.
  std::string family;
  std::map<std::string, std::string> metadata;
  std::vector<LoraModule> modules;  // in the order of the file's first tensor of each
};

// Reads and checks `path`: every module has a down and an up tensor of fitting shapes (up [out, r(, 1, 1)],
// down [r, ...]) and at most a scalar alpha; anything else (LyCORIS LoHa / LoKr / DoRA tensors, unknown
// keys) is an i2i::Error naming the file and the key.
LoraFile read_lora_file(const std::filesystem::path& path);

// A1111's short hash of a LoRA file (extensions-builtin/Lora network.py): the first 12 hex digits of
// kohya's `sshs_model_hash` metadata when present, else of the "addnet" hash (modules/hashes.py
// addnet_hash_safetensors: the SHA-256 of the file after its header). Cached per (path, size, mtime).
std::string lora_short_hash(const std::filesystem::path& path);

}  // namespace i2i
