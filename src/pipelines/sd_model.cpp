#include "pipelines/sd_model.h"

#include <algorithm>
#include <cctype>

#include "core/error.h"
#include "core/memory.h"
#include "core/phase_timer.h"
#include "io/regular_file.h"
#include "models/clip_text_loader.h"
#include "models/ldm_keys.h"
#include "models/unet_load.h"
#include "models/vae_config.h"
#include "models/vae_load.h"

namespace i2i {
namespace fs = std::filesystem;

PrecisionChoice parse_precision(const std::string& s) {
  std::string k;
  for (char c : s) k += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (k == "auto") return PrecisionChoice::Auto;
  if (k == "fp32" || k == "f32" || k == "float32") return PrecisionChoice::F32;
  if (k == "bf16" || k == "bfloat16") return PrecisionChoice::BF16;
  throw Error("unknown precision '" + s + "' (use auto, fp32 or bf16)");
}

Precision resolve_precision(PrecisionChoice choice, int64_t unet_parameters) {
  switch (choice) {
    case PrecisionChoice::F32:
      return Precision::F32;
    case PrecisionChoice::BF16:
      return Precision::BF16;
    case PrecisionChoice::Auto:
      break;
  }
  return cpu_has_bf16() && unet_parameters >= 100'000'000 ? Precision::BF16 : Precision::F32;
}

nlohmann::json sd15_scheduler_config() {
  return {{"_class_name", "PNDMScheduler"}, {"beta_end", 0.012},      {"beta_schedule", "scaled_linear"},
          {"beta_start", 0.00085},          {"clip_sample", false},   {"num_train_timesteps", 1000},
          {"set_alpha_to_one", false},      {"skip_prk_steps", true}, {"steps_offset", 1},
          {"trained_betas", nullptr}};
}

nlohmann::json sdxl_scheduler_config() {
  nlohmann::json j = sd15_scheduler_config();
  j["_class_name"] = "EulerDiscreteScheduler";
  j["interpolation_type"] = "linear";
  j["timestep_spacing"] = "leading";
  j["use_karras_sigmas"] = false;
  return j;
}

namespace {

// Replaces every layer of both text encoders with `f(layer)`.
template <typename F>
void replace_text_layers(SdModel& m, F f) {
  const LayerVisitor swap = [&](const LayerRef& r) {
    if (r.linear) *r.linear = f(*r.linear);
  };
  m.text_encoder.visit_layers("", swap);
  m.text_encoder_2.visit_layers("", swap);
}

}  // namespace

void release_text_encoders(SdModel& m) {
  if (m.text_encoders_released) return;
  replace_text_layers(m, [](const Linear& l) { return l.released(); });
  m.text_encoders_released = true;
  release_free_memory();
}

void prepare_text_encoders(SdModel& m) {
  if (!m.text_encoders_released) return;
  replace_text_layers(m, [](const Linear& l) { return l.prepared() ? l : l.rebuilt(); });
  m.text_encoders_released = false;
}

namespace {

int64_t unet_parameter_count(const Checkpoint& ck) {
  int64_t n = 0;
  if (ck.file) {
    for (const auto& name : ck.file->names())
      if (name.rfind("model.diffusion_model.", 0) == 0) n += shape_numel(ck.file->info(name).shape);
  } else {
    SafeTensors st = SafeTensors::open(ck.component_file("unet"));
    for (const auto& name : st.names()) n += shape_numel(st.info(name).shape);
  }
  return n;
}

// A VAE given on its own: an original-layout VAE file (encoder.down.N..., as the popular
// vae-ft-mse-840000 files), a diffusers-named VAE file, a checkpoint's first_stage_model, or a folder.
// Its own sidecar config (if any) is used; the scaling factor stays the main model's.
AutoencoderKL load_vae_override(const fs::path& path, std::optional<float> scaling_factor,
                                Precision precision) {
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    const std::string why = missing_path_reason(path);  // (a link loop, a dangling link ...)
    throw Error(path.string() + ": " +
                (why == "no such file or folder" ? "no such VAE file or folder" : why));
  }
  if (fs::is_directory(path, ec)) return load_vae_diffusers(path, precision);
  SafeTensors st = SafeTensors::open(path);
  Weights w;
  if (st.contains("first_stage_model.encoder.conv_in.weight")) {
    w = vae_weights_from_ldm(st, "first_stage_model.");
  } else if (st.contains("encoder.down.0.block.0.conv1.weight")) {
    w = vae_weights_from_ldm(st, "");
  } else if (st.contains("encoder.down_blocks.0.resnets.0.conv1.weight")) {
    w = weights_from_safetensors(st, "");
  } else {
    throw Error(path.string() + ": not a VAE (no encoder/decoder tensors in either layout)");
  }
  const Checkpoint vae_ck = open_checkpoint(path);  // its sidecar, if any
  nlohmann::json config = vae_ck.vae_config;
  if (scaling_factor) config["scaling_factor"] = *scaling_factor;
  return AutoencoderKL(w, infer_vae_config(w, &config, vae_ck.config_origin("vae")), precision);
}

// SDXL: both text encoders (the refiner: the second only) and the checks that tie them to the UNet: the
// feature widths add up to its cross-attention width, and its add_embedding takes the pooled embedding plus
// 6 time ids (base) or 5 (refiner, requires_aesthetics_score).
void load_sdxl_text(SdModel& m, const SdModelOptions& options) {
  const Checkpoint& ck = m.checkpoint;
  const std::string where = ck.path.string();
  auto json_or_null = [](const nlohmann::json& j) { return j.empty() ? nullptr : &j; };
  const fs::path tok2_dir =
      find_tokenizer_dir(options.tokenizer, ck.is_folder ? ck.path : fs::path(), "tokenizer_2");
  ClipTokenizerOptions tok2_opts = ClipTokenizer::options_for_folder(tok2_dir);
  tok2_opts.bang_is_special = true;  // OpenCLIP's pad `!` (SDXL's tokenizer_2)
  m.tokenizer_2.emplace(ClipTokenizer::load(tok2_dir, tok2_opts));
  if (!ck.refiner) {
    const fs::path tok_dir = find_tokenizer_dir(options.tokenizer, ck.is_folder ? ck.path : fs::path());
    m.tokenizer.emplace(ClipTokenizer::load(tok_dir, ClipTokenizer::options_for_folder(tok_dir)));
  }
  if (ck.is_folder) {
    if (!ck.refiner) m.text_encoder = load_clip_text_folder(ck.path / "text_encoder", m.precision).encoder;
    m.text_encoder_2 = load_clip_text_folder(ck.path / "text_encoder_2", m.precision).encoder;
  } else {
    if (!ck.refiner)
      m.text_encoder = load_clip_text(*ck.file, ClipTextSlot::SDXL1, json_or_null(ck.text_encoder_config),
                                      m.precision, ck.config_origin("text_encoder"))
                           .encoder;
    m.text_encoder_2 = load_clip_text(*ck.file, ck.refiner ? ClipTextSlot::SDXLRefiner : ClipTextSlot::SDXL2,
                                      json_or_null(ck.text_encoder_2_config), m.precision,
                                      ck.config_origin("text_encoder_2"))
                           .encoder;
  }
  m.force_zeros_for_empty_prompt = ck.force_zeros_for_empty_prompt.value_or(!ck.refiner);
  m.requires_aesthetics_score = ck.requires_aesthetics_score.value_or(ck.refiner);
  const UNetConfig& u = m.unet.config();
  const int64_t pooled = m.text_encoder_2.config().projection_dim;
  if (pooled <= 0) throw Error(where + ": SDXL text encoder 2 has no text projection");
  const int64_t width =
      (ck.refiner ? 0 : m.text_encoder.config().hidden_size) + m.text_encoder_2.config().hidden_size;
  if (u.cross_attention_dim != width)
    throw Error(where + ": the UNet expects text features of width " + std::to_string(u.cross_attention_dim) +
                " but the SDXL text encoders give " + std::to_string(width));
  if (!u.has_text_time())
    throw Error(where + ": an SDXL UNet needs the added embedding (add_embedding / label_emb) it lacks");
  const int64_t ids = u.time_id_count(pooled), want = m.requires_aesthetics_score ? 5 : 6;
  if (ids != want)
    throw Error(where + ": the UNet's add_embedding takes " +
                std::to_string(u.projection_class_embeddings_input_dim) + " inputs, not " +
                std::to_string(pooled) + " pooled + " + std::to_string(want) + " time ids x " +
                std::to_string(u.addition_time_embed_dim) +
                (m.requires_aesthetics_score ? " (requires_aesthetics_score: a refiner)"
                                             : " (a base model; requires_aesthetics_score false)"));
}

}  // namespace

SdModel load_sd_model(const fs::path& path, const SdModelOptions& options) {
  init_runtime();
  SdModel m;
  std::optional<phase_timer::Scope> opening(std::in_place, "open");
  m.checkpoint = open_checkpoint(path, options.checkpoint);
  const Checkpoint& ck = m.checkpoint;
  switch (ck.family) {
    case ModelFamily::SD1:
    case ModelFamily::SD2:
    case ModelFamily::SDXL:
      break;
    case ModelFamily::ControlNet:
      throw ParameterError(
          Error::literal(path.string()) +
          ": this is a ControlNet, not a Stable Diffusion model (give it as a {control_model})");
    case ModelFamily::VAE:
      throw ParameterError(Error::literal(path.string()) +
                           ": this is a VAE on its own, not a Stable Diffusion model (give it as the {vae})");
    case ModelFamily::Unknown:
      throw Error(path.string() + ": unknown model family");
  }
  m.precision = resolve_precision(options.precision, unet_parameter_count(ck));
  const bool sd2 = ck.family == ModelFamily::SD2, sdxl = ck.family == ModelFamily::SDXL;

  // Tokenizer: the CLIP BPE vocabulary; SD 2.x pads with '!' (id 0). (SDXL: load_sdxl_text.)
  if (!sdxl) {
    fs::path tok_dir = find_tokenizer_dir(options.tokenizer, ck.is_folder ? ck.path : fs::path());
    ClipTokenizerOptions tok_opts = ClipTokenizer::options_for_folder(tok_dir);
    if (sd2) tok_opts.bang_is_special = true;
    m.tokenizer.emplace(ClipTokenizer::load(tok_dir, tok_opts));
  }
  opening.reset();

  auto json_or_null = [](const nlohmann::json& j) { return j.empty() ? nullptr : &j; };
  if (ck.is_folder) {
    if (!sdxl) m.text_encoder = load_clip_text_folder(ck.path / "text_encoder", m.precision).encoder;
    m.unet = load_unet_diffusers(ck.path, m.precision);
    if (options.vae.empty()) {
      m.vae = load_vae_diffusers(ck.path, m.precision);
      m.vae_source = (ck.path / "vae").string();
    }
  } else {
    if (!sdxl)
      m.text_encoder =
          load_clip_text(*ck.file, sd2 ? ClipTextSlot::SD2 : ClipTextSlot::SD1,
                         json_or_null(ck.text_encoder_config), m.precision, ck.config_origin("text_encoder"))
              .encoder;
    m.unet =
        load_unet_single_file(ck.path, json_or_null(ck.unet_config), m.precision, ck.config_origin("unet"));
    if (options.vae.empty()) {
      nlohmann::json vae_cfg = ck.vae_config;
      if (ck.vae_scaling_factor && !vae_cfg.contains("scaling_factor"))
        vae_cfg["scaling_factor"] = *ck.vae_scaling_factor;
      m.vae = load_vae_single_file(ck.path, json_or_null(vae_cfg), m.precision, ck.config_origin("vae"));
      m.vae_source = ck.path.string();
    }
  }
  log_memory("loaded the UNet and VAE");
  if (!options.vae.empty()) {
    m.vae = load_vae_override(options.vae, ck.vae_scaling_factor, m.precision);
    m.vae_source = options.vae.string();
  }
  if (sdxl)
    load_sdxl_text(m, options);
  else if (m.unet.config().cross_attention_dim != m.text_encoder.config().hidden_size)
    throw Error(path.string() + ": the UNet expects text features of width " +
                std::to_string(m.unet.config().cross_attention_dim) + " but the text encoder gives " +
                std::to_string(m.text_encoder.config().hidden_size));
  if (m.unet.config().in_channels != 4 && m.unet.config().in_channels != 9)
    throw Error(path.string() + ": UNet with " + std::to_string(m.unet.config().in_channels) +
                " input channels is not supported");
  m.scheduler_config = !ck.scheduler_config.empty() ? ck.scheduler_config
                       : sdxl                       ? sdxl_scheduler_config()
                                                    : sd15_scheduler_config();
  m.scheduler_config["prediction_type"] = prediction_name(ck.prediction);
  log_memory("loaded the model");
  return m;
}

}  // namespace i2i
