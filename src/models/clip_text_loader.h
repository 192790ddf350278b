// Loading CLIP text encoders from single-file checkpoints (original / A1111 layout) and diffusers folders.
#pragma once

#include <filesystem>
#include <nlohmann/json_fwd.hpp>
#include <vector>

#include "io/safetensors.h"
#include "kernels/precision.h"
#include "models/clip_text.h"

namespace i2i {

// Where a text encoder sits in a single-file checkpoint.
enum class ClipTextSlot {
  SD1,          // cond_stage_model.transformer.       Hugging Face names (CLIP ViT-L/14)
  SD2,          // cond_stage_model.model.             OpenCLIP names (ViT-H/14); last block unused
  SDXL1,        // conditioner.embedders.0.transformer. Hugging Face names (CLIP ViT-L/14)
  SDXL2,        // conditioner.embedders.1.model.      OpenCLIP names (ViT-bigG/14), with projection
  SDXLRefiner,  // conditioner.embedders.0.model. the SDXL refiner's one encoder: SDXL2's, first in line
};

struct ClipTextLayout {
  const char* prefix;
  bool openclip;  // stored under OpenCLIP names (converted on load, see openclip_text_keys.h)
  // Blocks stored after the last one used. SD 2.x conditions on ln_final(output of resblocks[-2]), so its
  // last block is dropped, as diffusers does (the diffusers folder holds only the used layers).
  int unused_last_blocks;
  bool with_projection;               // CLIPTextModelWithProjection (SDXL's second encoder)
  ClipActivation default_activation;  // when no config says: quick_gelu (OpenAI CLIP), gelu (OpenCLIP)
  const char* name;                   // for messages, e.g. "SD 2.x text encoder"
};
const ClipTextLayout& clip_text_layout(ClipTextSlot slot);

// The slots whose token embedding `file` holds, in enum order.
std::vector<ClipTextSlot> find_clip_text_slots(const SafeTensors& file);

struct LoadedClipText {
  ClipTextEncoder encoder;
  int stored_layers = 0;  // layers in the checkpoint
  int unused_layers = 0;  // stored but not run (1 for SD 2.x single files)
};

// The encoder at `slot` of a single-file checkpoint. `hf_config` (transformers CLIPTextConfig keys, e.g. the
// fixtures' sidecar "text_encoder" entry; may be null) gives heads / activation / eps; its num_hidden_layers
// counts the layers used. Weights stay views of the mapped file where they can (keep nothing else alive).
// Errors about a config field name `config_origin` (the sidecar the config came from, see
// Checkpoint::config_origins; "": the weights file).
LoadedClipText load_clip_text(const SafeTensors& file, ClipTextSlot slot,
                              const nlohmann::json* hf_config = nullptr, Precision precision = Precision::F32,
                              const std::string& config_origin = "");

// A diffusers `text_encoder/` or `text_encoder_2/` folder: config.json + model.safetensors (or
// model.fp16.safetensors). The projection is used when the config's architectures name
// CLIPTextModelWithProjection (or, with no architectures given, when text_projection.weight is present).
LoadedClipText load_clip_text_folder(const std::filesystem::path& dir, Precision precision = Precision::F32);

}  // namespace i2i
