#include "pipelines/sd_model.h"

#include <algorithm>
#include <cctype>

#include "core/error.h"
#include "core/memory.h"
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
  if (!fs::exists(path, ec)) throw Error(path.string() + ": no such VAE file or folder");
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
  nlohmann::json config = open_checkpoint(path).vae_config;
  if (scaling_factor) config["scaling_factor"] = *scaling_factor;
  return AutoencoderKL(w, infer_vae_config(w, &config), precision);
}

}  // namespace

SdModel load_sd_model(const fs::path& path, const SdModelOptions& options) {
  init_runtime();
  SdModel m;
  m.checkpoint = open_checkpoint(path, options.checkpoint);
  const Checkpoint& ck = m.checkpoint;
  switch (ck.family) {
    case ModelFamily::SD1:
    case ModelFamily::SD2:
      break;
    case ModelFamily::SDXL:
      throw Error(path.string() + ": SDXL models are recognised but not yet supported (SD 1.x and 2.x are)");
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
  const bool sd2 = ck.family == ModelFamily::SD2;

  // Tokenizer: the CLIP BPE vocabulary; SD 2.x pads with '!' (id 0).
  fs::path tok_dir = find_tokenizer_dir(options.tokenizer, ck.is_folder ? ck.path : fs::path());
  ClipTokenizerOptions tok_opts = ClipTokenizer::options_for_folder(tok_dir);
  if (sd2) tok_opts.bang_is_special = true;
  m.tokenizer.emplace(ClipTokenizer::load(tok_dir, tok_opts));

  auto json_or_null = [](const nlohmann::json& j) { return j.empty() ? nullptr : &j; };
  if (ck.is_folder) {
    m.text_encoder = load_clip_text_folder(ck.path / "text_encoder", m.precision).encoder;
    m.unet = load_unet_diffusers(ck.path, m.precision);
    if (options.vae.empty()) {
      m.vae = load_vae_diffusers(ck.path, m.precision);
      m.vae_source = (ck.path / "vae").string();
    }
  } else {
    m.text_encoder = load_clip_text(*ck.file, sd2 ? ClipTextSlot::SD2 : ClipTextSlot::SD1,
                                    json_or_null(ck.text_encoder_config), m.precision)
                         .encoder;
    m.unet = load_unet_single_file(ck.path, json_or_null(ck.unet_config), m.precision);
    if (options.vae.empty()) {
      nlohmann::json vae_cfg = ck.vae_config;
      if (ck.vae_scaling_factor && !vae_cfg.contains("scaling_factor"))
        vae_cfg["scaling_factor"] = *ck.vae_scaling_factor;
      m.vae = load_vae_single_file(ck.path, json_or_null(vae_cfg), m.precision);
      m.vae_source = ck.path.string();
    }
  }
  if (!options.vae.empty()) {
    m.vae = load_vae_override(options.vae, ck.vae_scaling_factor, m.precision);
    m.vae_source = options.vae.string();
  }
  if (m.unet.config().cross_attention_dim != m.text_encoder.config().hidden_size)
    throw Error(path.string() + ": the UNet expects text features of width " +
                std::to_string(m.unet.config().cross_attention_dim) + " but the text encoder gives " +
                std::to_string(m.text_encoder.config().hidden_size));
  if (m.unet.config().in_channels != 4 && m.unet.config().in_channels != 9)
    throw Error(path.string() + ": UNet with " + std::to_string(m.unet.config().in_channels) +
                " input channels is not supported");
  m.scheduler_config = ck.scheduler_config.empty() ? sd15_scheduler_config() : ck.scheduler_config;
  m.scheduler_config["prediction_type"] = prediction_name(ck.prediction);
  return m;
}

}  // namespace i2i
