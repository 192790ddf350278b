// What a model path is: a single-file checkpoint (in one of the layouts A1111 loads, see CheckpointLayout)
// or a diffusers folder; which family it belongs to; and the configuration that tensor shapes cannot tell,
// gathered from (in order) an explicit --model-config file, a sidecar beside the checkpoint (`<stem>.json`,
// the fixtures' bundle of diffusers configs; or A1111's LDM `<stem>.yaml`), the diffusers folder's config
// files, and finally the real models' standard values (applied by each component's config builder).
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "io/safetensors.h"

namespace i2i {

enum class ModelFamily { SD1, SD2, SDXL, ControlNet, VAE, Unknown };
enum class Prediction { Epsilon, V };

// How a file or folder names the parts of a model. Single files are told apart by what their text encoders
// and UNet are (the table in checkpoint.cpp; A1111's modules/sd_models_config.py tests the same tensors), and
// the layouts other than LDM are read through A1111's key renames (modules/sd_models.py), so that every
// loader sees LDM names.
enum class CheckpointLayout {
  Ldm,         // CompVis / A1111: model.diffusion_model., first_stage_model., cond_stage_model. (SD 1.x: CLIP
               // as transformers names it, cond_stage_model.transformer.text_model.*; SD 2.x: OpenCLIP,
               // cond_stage_model.model.*); ControlNets control_model.*, VAEs encoder.down.N.*
  LdmOldClip,  // SD 1.x LDM whose CLIP has the older names without `text_model.` (NovelAI's model and its
               // merges): cond_stage_model.transformer.{embeddings, encoder, final_layer_norm}.*
  Sgm,         // Stability's generative-models: text encoders under conditioner.embedders.N. (SDXL base and
               // refiner; SD 2.x files such as SD-Turbo's, whose one OpenCLIP encoder is embedders.0)
  DiffusersNames,   // a VAE or ControlNet weights file with diffusers names
  DiffusersFolder,  // model_index.json (or a component's config.json) and component folders
};

std::string family_name(ModelFamily f);
// e.g. "SGM (Stability generative-models: conditioner.embedders.N)".
std::string layout_name(CheckpointLayout l);
std::string prediction_name(Prediction p);
// "v" / "v_prediction" / "eps" / "epsilon" (throws i2i::Error for anything else).
Prediction parse_prediction(const std::string& s);

struct CheckpointOptions {
  std::optional<std::filesystem::path> model_config;  // --model-config FILE
  std::optional<Prediction> prediction;               // --prediction v|eps
};

struct Checkpoint {
  std::filesystem::path path;
  bool is_folder = false;
  std::shared_ptr<SafeTensors> file;  // the single file (renamed, see renamed_prefixes; null for a folder)
  ModelFamily family = ModelFamily::Unknown;
  CheckpointLayout layout = CheckpointLayout::Ldm;
  bool inpainting = false;  // 9-channel UNet input
  bool refiner = false;     // SDXL refiner: one OpenCLIP-bigG text encoder, aesthetic-score conditioning
  // What the text encoders are, for `i2i info`, e.g. "OpenCLIP ViT-H, width 1024" (empty when none).
  std::string text_encoders;
  // Single files in a layout other than LDM: `file` is a renamed view of the file (SafeTensors::renamed)
  // with these stored prefixes read as LDM ones, as A1111 renames them. Loaders therefore name tensors by
  // their LDM names in errors; `i2i info` lists the renames.
  std::vector<std::pair<std::string, std::string>> renamed_prefixes;
  Prediction prediction = Prediction::Epsilon;
  std::string prediction_source;  // where the prediction type came from, for `i2i info`
  std::string config_source;      // where the component configs came from ("" = shapes and defaults)
  // diffusers-style component configs (empty objects when unknown: builders then use shapes + defaults).
  nlohmann::json unet_config = nlohmann::json::object();
  nlohmann::json vae_config = nlohmann::json::object();
  nlohmann::json text_encoder_config = nlohmann::json::object();
  nlohmann::json text_encoder_2_config = nlohmann::json::object();
  nlohmann::json scheduler_config = nlohmann::json::object();
  nlohmann::json controlnet_config = nlohmann::json::object();
  // Where a component's config came from, for errors about its fields: component ("text_encoder", ...) ->
  // the sidecar or --model-config file and its entry, e.g. "m.json, entry 'text_encoder'" (the last file
  // that gave one). A component without an entry here has no config file (a diffusers folder's loaders read
  // and name their own config.json).
  std::map<std::string, std::string> config_origins;
  std::optional<float> vae_scaling_factor;
  // SDXL pipeline settings (diffusers model_index.json, or the sidecar's keys of the same names); unset: the
  // defaults load_sd_model applies (base: zeros for an empty negative prompt, no aesthetic score; refiner:
  // the reverse, as SDXL refiner 1.0's model_index.json).
  std::optional<bool> force_zeros_for_empty_prompt;
  std::optional<bool> requires_aesthetics_score;

  // A diffusers folder's component file, e.g. component_file("unet") ->
  // <path>/unet/diffusion_pytorch_model.safetensors.
  std::filesystem::path component_file(const std::string& component) const;
  // config_origins[component], or "" when no file gave that component's config.
  std::string config_origin(const std::string& component) const;
};

// The weights file of one diffusers component folder (`unet/`, a ControlNet or VAE folder), as
// component_file picks it: diffusion_pytorch_model.safetensors, model.safetensors, then their .fp16 variants;
// empty when there is none.
std::filesystem::path diffusers_weights_file(const std::filesystem::path& dir);

// Opens and classifies `path`. Throws i2i::Error naming the path when it is missing, unreadable, not a
// diffusion checkpoint, or truncated/corrupt.
Checkpoint open_checkpoint(const std::filesystem::path& path, const CheckpointOptions& options = {});

// Reads the few keys i2i understands from an LDM/A1111 `.yaml` config (models/ldm_yaml.cpp, yaml-cpp), each
// at its own nested path, so a key of the same name elsewhere is not taken:
//   model.params.parameterization ("eps" / "v")   -> "prediction_type" ("epsilon" / "v_prediction"); when
//     absent from an ldm config (one with model.params.unet_config), "epsilon", LatentDiffusion's default
//     (A1111's v2-inference.yaml for SD 2.x 512-base models has no parameterization)
//   model.params.scale_factor                      -> "vae_scaling_factor"
//   model.params.unet_config.params (SDXL's sgm configs: network_config.params):
//     num_heads (when > 0) -> unet.attention_head_dim, num_head_channels (when > 0) -> unet.i2i_head_dim,
//     use_linear_in_transformer -> unet.use_linear_projection, context_dim -> unet.cross_attention_dim
// Returns a sidecar-style JSON object ({"prediction_type", "vae_scaling_factor", "unet": {...}}). Throws a
// one-line i2i::Error naming the file when it is missing, larger than 256 KiB, binary, not YAML, nested too
// deeply, without a top-level `model:` mapping, or holds a wrongly typed value for one of those keys.
// Anchors and aliases are never expanded (only the mappings on those paths are visited).
nlohmann::json read_ldm_yaml(const std::filesystem::path& path);

}  // namespace i2i
