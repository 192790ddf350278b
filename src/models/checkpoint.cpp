#include "models/checkpoint.h"

#include "core/error.h"
#include "io/config_file.h"
#include "io/regular_file.h"
#include "models/model_config.h"
#include "models/vae_config.h"

namespace i2i {
namespace fs = std::filesystem;
namespace {

// parse_prediction, with an error naming `origin` (the file the value came from).
Prediction prediction_from(const std::string& value, const std::string& origin) {
  try {
    return parse_prediction(value);
  } catch (const Error& e) {
    throw Error(origin + ": " + e.what());
  }
}

bool has_prefix(const SafeTensors& st, const std::string& prefix) {
  for (const auto& n : st.names())
    if (n.compare(0, prefix.size(), prefix) == 0) return true;
  return false;
}

// SDXL's pipeline flags (model_index.json / sidecar keys): force_zeros_for_empty_prompt,
// requires_aesthetics_score.
void apply_pipeline_flags(Checkpoint& ck, const nlohmann::json& j, const std::string& source) {
  for (auto [key, slot] : {std::pair{"force_zeros_for_empty_prompt", &ck.force_zeros_for_empty_prompt},
                           {"requires_aesthetics_score", &ck.requires_aesthetics_score}}) {
    if (!j.contains(key) || j[key].is_null()) continue;
    if (!j[key].is_boolean()) throw Error(source + ": '" + key + "' must be true or false");
    *slot = j[key].get<bool>();
  }
}

// Merges a sidecar-style object ({"unet": {...}, "vae": {...}, "prediction_type": ..., ...}) into `ck`.
void apply_sidecar(Checkpoint& ck, const nlohmann::json& j, const std::string& source) {
  if (!j.is_object()) throw Error(source + ": model config must be a JSON object");
  auto merge = [&](nlohmann::json& dst, const char* key) {
    if (!j.contains(key) || !j[key].is_object()) return;
    dst.update(j[key]);
    ck.config_origins[key] = source + ", entry '" + key + "'";
  };
  merge(ck.unet_config, "unet");
  merge(ck.vae_config, "vae");
  merge(ck.text_encoder_config, "text_encoder");
  merge(ck.text_encoder_2_config, "text_encoder_2");
  merge(ck.scheduler_config, "scheduler");
  merge(ck.controlnet_config, "controlnet");
  if (j.contains("vae_scaling_factor") && !j["vae_scaling_factor"].is_null())
    ck.vae_scaling_factor =
        checked_vae_scaling_factor(json_number(j["vae_scaling_factor"], source + ": 'vae_scaling_factor'"),
                                   source + ": 'vae_scaling_factor'");
  apply_pipeline_flags(ck, j, source);
  std::string pred;
  if (j.contains("prediction_type") && j["prediction_type"].is_string())
    pred = j["prediction_type"].get<std::string>();
  else if (ck.scheduler_config.contains("prediction_type") &&
           ck.scheduler_config["prediction_type"].is_string())
    pred = ck.scheduler_config["prediction_type"].get<std::string>();
  if (!pred.empty()) {
    ck.prediction = prediction_from(pred, source);
    ck.prediction_source = source;
  }
  ck.config_source = ck.config_source.empty() ? source : ck.config_source + ", " + source;
}

using Renames = std::vector<std::pair<std::string, std::string>>;

// A1111's renames (modules/sd_models.py): checkpoint_dict_replacements_sd1 for CLIP saved without
// `text_model.`, checkpoint_dict_replacements_sd2_turbo for SD 2.x files in the SGM layout.
const Renames kOldClipRenames = {
    {"cond_stage_model.transformer.embeddings.", "cond_stage_model.transformer.text_model.embeddings."},
    {"cond_stage_model.transformer.encoder.", "cond_stage_model.transformer.text_model.encoder."},
    {"cond_stage_model.transformer.final_layer_norm.",
     "cond_stage_model.transformer.text_model.final_layer_norm."},
};
const Renames kSgmSd2Renames = {{"conditioner.embedders.0.", "cond_stage_model."}};

// The final LayerNorm of each text encoder, where each layout keeps it (its length is the width).
const char* const kLdmClip = "cond_stage_model.transformer.text_model.final_layer_norm.weight";
const char* const kOldClip = "cond_stage_model.transformer.final_layer_norm.weight";
const char* const kLdmOpenClip = "cond_stage_model.model.ln_final.weight";
const char* const kSgmClip0 = "conditioner.embedders.0.transformer.text_model.final_layer_norm.weight";
const char* const kSgmOpenClip0 = "conditioner.embedders.0.model.ln_final.weight";
const char* const kSgmOpenClip1 = "conditioner.embedders.1.model.ln_final.weight";

// The single-file layouts of Stable Diffusion models, tried in order. A row matches when the file holds
// all its text encoders and the UNet has SDXL's vector conditioning `label_emb` (pooled text + size /
// aesthetic-score embeddings) exactly when the row says so. SGM-layout SD 2.x (SD-Turbo) and the SDXL
// refiner both have one OpenCLIP encoder at embedders.0: A1111 tells them apart by its width (1024:
// ViT-H, 1280: ViT-bigG); label_emb tells them apart at any width (the tiny test models are 16 and 24).
struct SingleFileLayout {
  ModelFamily family;
  bool refiner;
  CheckpointLayout layout;
  bool label_emb;
  std::vector<const char*> text_norms;
  const char* text_kind;
  const Renames* renames;  // null: read as stored
};

const std::vector<SingleFileLayout>& single_file_layouts() {
  using F = ModelFamily;
  using L = CheckpointLayout;
  static const std::vector<SingleFileLayout> rows = {
      // family, refiner, layout, label_emb, text encoders, what they are, renames to LDM names
      {F::SD1, false, L::Ldm, false, {kLdmClip}, "CLIP ViT-L", nullptr},
      {F::SD1, false, L::LdmOldClip, false, {kOldClip}, "CLIP ViT-L", &kOldClipRenames},
      {F::SD2, false, L::Ldm, false, {kLdmOpenClip}, "OpenCLIP ViT-H", nullptr},
      {F::SD2, false, L::Sgm, false, {kSgmOpenClip0}, "OpenCLIP ViT-H", &kSgmSd2Renames},
      {F::SDXL, false, L::Sgm, true, {kSgmClip0, kSgmOpenClip1}, "CLIP ViT-L + OpenCLIP ViT-bigG", nullptr},
      {F::SDXL, true, L::Sgm, true, {kSgmOpenClip0}, "OpenCLIP ViT-bigG", nullptr},
  };
  return rows;
}

// "CLIP ViT-L, width 768" / "CLIP ViT-L + OpenCLIP ViT-bigG, widths 768 + 1280".
std::string describe_text_encoders(const SafeTensors& st, const SingleFileLayout& row) {
  std::string widths;
  for (const char* norm : row.text_norms) {
    const Shape& shape = st.info(norm).shape;
    widths +=
        (widths.empty() ? "" : " + ") + (shape.size() == 1 ? std::to_string(shape[0]) : shape_str(shape));
  }
  return std::string(row.text_kind) + (row.text_norms.size() > 1 ? ", widths " : ", width ") + widths;
}

std::string renamed_key(const std::string& name, const Renames& renames) {
  for (const auto& [from, to] : renames)
    if (name.compare(0, from.size(), from) == 0) return to + name.substr(from.size());
  return name;
}

void classify_model_file(Checkpoint& ck) {
  const SafeTensors& st = *ck.file;
  const std::string unet_in = "model.diffusion_model.input_blocks.0.0.weight";
  const auto& shape = st.info(unet_in).shape;
  if (shape.size() != 4)
    throw Error(ck.path.string() + ": tensor '" + unet_in + "' has shape " + shape_str(shape));
  ck.inpainting = shape[1] == 9;
  const bool label_emb = st.contains("model.diffusion_model.label_emb.0.0.weight");
  const SingleFileLayout* found = nullptr;
  for (const SingleFileLayout& row : single_file_layouts()) {
    bool all = row.label_emb == label_emb;
    for (const char* norm : row.text_norms) all = all && st.contains(norm);
    if (all) {
      found = &row;
      break;
    }
  }
  if (!found) {
    if (has_prefix(st, "cond_stage_model.") || has_prefix(st, "conditioner.embedders."))
      throw Error(ck.path.string() +
                  ": its text encoder (cond_stage_model.* / conditioner.embedders.*) and UNet" +
                  (label_emb ? " with" : " without") +
                  " label_emb match no layout i2i knows (SD 1.x, SD 2.x, SDXL base or refiner)");
    throw Error(ck.path.string() + ": has a UNet but no text encoder (cond_stage_model.* / conditioner.*)");
  }
  ck.family = found->family;
  ck.refiner = found->refiner;
  ck.layout = found->layout;
  ck.text_encoders = describe_text_encoders(st, *found);
  if (found->renames) {
    ck.renamed_prefixes = *found->renames;
    const Renames& renames = *found->renames;
    ck.file = std::make_shared<SafeTensors>(
        st.renamed([&renames](const std::string& name) { return renamed_key(name, renames); }));
  }
  if (!has_prefix(*ck.file, "first_stage_model."))
    throw ParameterError(Error::literal(ck.path.string()) +
                         ": has a UNet but no VAE (first_stage_model.*); give one as the {vae}");
}

void classify_single_file(Checkpoint& ck) {
  const SafeTensors& st = *ck.file;
  if (st.contains("model.diffusion_model.input_blocks.0.0.weight")) {
    classify_model_file(ck);
  } else if (has_prefix(st, "control_model.")) {
    ck.family = ModelFamily::ControlNet;
  } else if (st.contains("encoder.conv_in.weight") && st.contains("decoder.conv_in.weight")) {
    ck.family = ModelFamily::VAE;
    if (!has_prefix(st, "encoder.down.")) ck.layout = CheckpointLayout::DiffusersNames;
  } else if (st.contains("controlnet_cond_embedding.conv_in.weight")) {
    ck.family = ModelFamily::ControlNet;  // a diffusers ControlNet weights file on its own
    ck.layout = CheckpointLayout::DiffusersNames;
  } else {
    throw Error(ck.path.string() + ": not a Stable Diffusion checkpoint (no model.diffusion_model.*, " +
                "first_stage_model.*, control_model.* or VAE tensors among " +
                std::to_string(st.names().size()) + " tensors)");
  }
}

// A diffusers pipeline folder (model_index.json): the component configs and what they tell.
void classify_pipeline_folder(Checkpoint& ck) {
  const fs::path& dir = ck.path;
  // The components are found by folder; the index gives SDXL's pipeline flags.
  apply_pipeline_flags(ck, read_config_json(dir / "model_index.json"), (dir / "model_index.json").string());
  for (auto [name, slot] : {std::pair{"unet", &ck.unet_config},
                            {"vae", &ck.vae_config},
                            {"text_encoder", &ck.text_encoder_config},
                            {"text_encoder_2", &ck.text_encoder_2_config}})
    if (fs::exists(dir / name / "config.json")) slot->update(read_config_json(dir / name / "config.json"));
  const fs::path scheduler_file = dir / "scheduler" / "scheduler_config.json";
  if (fs::exists(scheduler_file)) ck.scheduler_config.update(read_config_json(scheduler_file));
  if (!fs::exists(dir / "unet" / "config.json"))
    throw Error(dir.string() + ": diffusers folder without unet/config.json");
  const std::string unet_file = (dir / "unet" / "config.json").string();
  const std::string text_file = (dir / "text_encoder" / "config.json").string();
  const bool text_1 = fs::exists(dir / "text_encoder"), text_2 = fs::exists(dir / "text_encoder_2");
  if (ck.unet_config.value("addition_embed_type", nlohmann::json()).is_string() || text_2) {
    ck.family = ModelFamily::SDXL;
    ck.refiner = text_2 && !text_1;  // the refiner has only the OpenCLIP-bigG encoder, as text_encoder_2
  } else if (json_get<std::string>(ck.text_encoder_config, "hidden_act", "", text_file) == "gelu") {
    ck.family = ModelFamily::SD2;
  } else {
    ck.family = ModelFamily::SD1;
  }
  ck.layout = CheckpointLayout::DiffusersFolder;
  auto width = [&](const nlohmann::json& config, const std::string& file) {
    return std::to_string(json_get<int64_t>(config, "hidden_size", 0, file));
  };
  const std::string text_2_file = (dir / "text_encoder_2" / "config.json").string();
  if (ck.family == ModelFamily::SD1 || ck.family == ModelFamily::SD2)
    ck.text_encoders = std::string(ck.family == ModelFamily::SD1 ? "CLIP ViT-L" : "OpenCLIP ViT-H") +
                       ", width " + width(ck.text_encoder_config, text_file);
  else if (ck.refiner)
    ck.text_encoders = "OpenCLIP ViT-bigG, width " + width(ck.text_encoder_2_config, text_2_file);
  else
    ck.text_encoders = "CLIP ViT-L + OpenCLIP ViT-bigG, widths " + width(ck.text_encoder_config, text_file) +
                       " + " + width(ck.text_encoder_2_config, text_2_file);
  ck.inpainting = json_get<int64_t>(ck.unet_config, "in_channels", 4, unet_file) == 9;
  ck.config_source = "diffusers folder configs";
  const std::string pred = json_get<std::string>(ck.scheduler_config, "prediction_type", "", scheduler_file);
  if (!pred.empty()) {
    ck.prediction = prediction_from(pred, scheduler_file.string());
    ck.prediction_source = "scheduler/scheduler_config.json";
  }
  if (auto sf = ck.vae_config.find("scaling_factor"); sf != ck.vae_config.end() && !sf->is_null())
    ck.vae_scaling_factor = checked_vae_scaling_factor(
        json_get<double>(ck.vae_config, "scaling_factor", 0.0, (dir / "vae/config.json").string()),
        (dir / "vae/config.json").string() + ": config field 'scaling_factor'");
}

void classify_folder(Checkpoint& ck) {
  const fs::path& dir = ck.path;
  if (fs::exists(dir / "model_index.json")) {
    classify_pipeline_folder(ck);
  } else if (fs::exists(dir / "config.json")) {
    nlohmann::json cfg = read_config_json(dir / "config.json");
    std::string cls = json_get<std::string>(cfg, "_class_name", "", (dir / "config.json").string());
    if (cls == "ControlNetModel") {
      ck.family = ModelFamily::ControlNet;
      ck.controlnet_config = cfg;
    } else if (cls == "AutoencoderKL") {
      ck.family = ModelFamily::VAE;
      ck.vae_config = cfg;
    } else {
      throw Error(dir.string() + ": config.json describes '" + cls + "', not a model i2i can load");
    }
    ck.config_source = "config.json";
    ck.layout = CheckpointLayout::DiffusersFolder;
  } else {
    throw Error(dir.string() + ": not a diffusers folder (no model_index.json or config.json)");
  }
}

}  // namespace

std::string family_name(ModelFamily f) {
  switch (f) {
    case ModelFamily::SD1:
      return "SD1.x";
    case ModelFamily::SD2:
      return "SD2.x";
    case ModelFamily::SDXL:
      return "SDXL";
    case ModelFamily::ControlNet:
      return "ControlNet";
    case ModelFamily::VAE:
      return "VAE";
    case ModelFamily::Unknown:
      break;
  }
  return "unknown";
}

std::string layout_name(CheckpointLayout l) {
  switch (l) {
    case CheckpointLayout::Ldm:
      return "LDM (CompVis / A1111)";
    case CheckpointLayout::LdmOldClip:
      return "LDM with the older CLIP names (cond_stage_model.transformer.* without text_model.)";
    case CheckpointLayout::Sgm:
      return "SGM (Stability generative-models: conditioner.embedders.N)";
    case CheckpointLayout::DiffusersNames:
      return "diffusers names";
    case CheckpointLayout::DiffusersFolder:
      return "diffusers folder";
  }
  return "unknown";
}

std::string prediction_name(Prediction p) {
  return p == Prediction::V ? "v_prediction" : "epsilon";
}

Prediction parse_prediction(const std::string& s) {
  if (s == "v" || s == "v_prediction" || s == "v-prediction") return Prediction::V;
  if (s == "eps" || s == "epsilon") return Prediction::Epsilon;
  throw Error("unknown prediction type '" + s + "' (use v or eps)");
}

fs::path diffusers_weights_file(const fs::path& dir) {
  std::error_code ec;
  for (const char* name : {"diffusion_pytorch_model.safetensors", "model.safetensors",
                           "diffusion_pytorch_model.fp16.safetensors", "model.fp16.safetensors"})
    if (fs::exists(dir / name, ec)) return dir / name;
  return {};
}

fs::path Checkpoint::component_file(const std::string& component) const {
  if (fs::path f = diffusers_weights_file(path / component); !f.empty()) return f;
  throw Error(path.string() + ": no " + component + "/*.safetensors weights in the diffusers folder");
}

std::string Checkpoint::config_origin(const std::string& component) const {
  auto it = config_origins.find(component);
  return it == config_origins.end() ? std::string() : it->second;
}

Checkpoint open_checkpoint(const fs::path& path, const CheckpointOptions& options) {
  Checkpoint ck;
  ck.path = path;
  std::error_code ec;
  if (!fs::exists(path, ec)) throw Error(path.string() + ": " + missing_path_reason(path));
  ck.is_folder = fs::is_directory(path, ec);
  if (ck.is_folder) {
    classify_folder(ck);
  } else {
    std::string ext = path.extension().string();
    if (ext == ".ckpt" || ext == ".pt" || ext == ".pth" || ext == ".bin")
      throw Error(path.string() + ": pickled checkpoints (" + ext +
                  ") are not loaded, since they can run code; use the model's .safetensors file");
    ck.file = std::make_shared<SafeTensors>(SafeTensors::open(path));
    classify_single_file(ck);
    fs::path json_sidecar = fs::path(path).replace_extension(".json");
    fs::path yaml_sidecar = fs::path(path).replace_extension(".yaml");
    // The fixtures name fp16 files `<model>.fp16.safetensors` beside one `<model>.json`.
    if (!fs::exists(json_sidecar) && path.stem().extension() == ".fp16")
      json_sidecar = path.parent_path() / (path.stem().stem().string() + ".json");
    if (!options.model_config) {
      if (fs::exists(json_sidecar))
        apply_sidecar(ck, read_config_json(json_sidecar), json_sidecar.string());
      else if (fs::exists(yaml_sidecar))
        apply_sidecar(ck, read_ldm_yaml(yaml_sidecar), yaml_sidecar.string());
    }
  }
  if (options.model_config) {
    const fs::path& p = *options.model_config;
    bool yaml = p.extension() == ".yaml" || p.extension() == ".yml";
    apply_sidecar(ck, yaml ? read_ldm_yaml(p) : read_config_json(p), p.string());
  }
  if (ck.prediction_source.empty()) {
    // A bare single file says nothing about its prediction type. SD 2.x's 768-pixel models (the common
    // ones) are v-prediction, the 512-pixel base model epsilon; i2i defaults to v for SD 2.x, as
    // AUTOMATIC1111 does with its v2-inference-v.yaml, and --prediction eps overrides.
    ck.prediction = ck.family == ModelFamily::SD2 ? Prediction::V : Prediction::Epsilon;
    ck.prediction_source = "default for " + family_name(ck.family);
  }
  if (options.prediction) {
    ck.prediction = *options.prediction;
    ck.prediction_source = "the prediction option";
  }
  if (!ck.vae_scaling_factor && ck.family != ModelFamily::ControlNet)
    ck.vae_scaling_factor = ck.family == ModelFamily::SDXL ? 0.13025f : 0.18215f;
  return ck;
}

}  // namespace i2i
