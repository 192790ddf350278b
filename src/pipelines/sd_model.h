// A loaded Stable Diffusion 1.x / 2.x / SDXL model: tokenizer(s), text encoder(s), UNet, VAE and the
// scheduler configuration, from one path (single file or diffusers folder) — the one loader the front ends
// use.
//
// SDXL (diffusers StableDiffusionXLImg2ImgPipeline): the base model has CLIP ViT-L (`tokenizer`,
// `text_encoder`) and OpenCLIP ViT-bigG with its projection (`tokenizer_2`, padded with `!`,
// `text_encoder_2`); the refiner has only the second pair. Its VAE (scaling factor 0.13025) overflows in
// float16, which is why diffusers' config says `force_upcast` (compute the VAE in float32 when the
// pipeline runs in float16). i2i never computes the VAE in float16: it runs in float32, or in bf16 (whose
// range is float32's) with --precision bf16, so nothing needs upcasting and `force_upcast` is ignored; an
// fp16-fix VAE (madebyollin/sdxl-vae-fp16-fix) given as --vae works like any other VAE.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>

#include "kernels/precision.h"
#include "models/checkpoint.h"
#include "models/clip_text.h"
#include "models/unet.h"
#include "models/vae.h"
#include "text/tokenizer.h"

namespace i2i {

enum class PrecisionChoice { Auto, F32, BF16 };
// "auto" | "fp32" | "bf16" (also f32 / float32 / bfloat16).
PrecisionChoice parse_precision(const std::string& s);

struct SdModelOptions {
  std::filesystem::path vae;        // a VAE overriding the checkpoint's (file or diffusers folder)
  std::filesystem::path tokenizer;  // --tokenizer DIR
  CheckpointOptions checkpoint;
  PrecisionChoice precision = PrecisionChoice::Auto;
  // Whether a ModelSet keeps its text encoders' prepared weights between requests (true: a server, whose
  // next request comes soon) or releases them as soon as a run has encoded its prompts and prepares them
  // again from the model file when a later run needs them (false: the CLI, which runs one request; an SDXL
  // base then runs its UNet and VAE without the 1.6 GB of its two text encoders). The pictures are the same.
  bool keep_text_encoders = true;
  // Where ModelSet::load looks up a model or VAE given by name (models/model_names.h; "" = the default
  // models folder). load_sd_model itself takes paths only.
  std::string models_dir;
};

struct SdModel {
  Checkpoint checkpoint;
  std::optional<ClipTokenizer> tokenizer;  // set by load_sd_model, except for an SDXL refiner
  ClipTextEncoder text_encoder;            // undefined for an SDXL refiner
  // SDXL: the OpenCLIP ViT-bigG tokenizer (pad `!`) and encoder with projection; unset for SD 1.x / 2.x.
  std::optional<ClipTokenizer> tokenizer_2;
  ClipTextEncoder text_encoder_2;
  // SDXL pipeline settings (diffusers model_index.json): an empty negative prompt conditions with zeros;
  // the refiner's time ids end with an aesthetic score instead of the target size.
  bool force_zeros_for_empty_prompt = false;
  bool requires_aesthetics_score = false;
  UNet2DCondition unet;
  AutoencoderKL vae;
  Precision precision = Precision::F32;
  nlohmann::json scheduler_config;      // the model's diffusers scheduler config (SD 1.5's when unknown)
  std::string vae_source;               // where the VAE came from
  bool text_encoders_released = false;  // release_text_encoders: the encoders cannot run until prepared

  Prediction prediction() const { return checkpoint.prediction; }
  bool sdxl() const { return checkpoint.family == ModelFamily::SDXL; }
  bool refiner() const { return sdxl() && checkpoint.refiner; }
  float vae_scale() const { return vae.config().scaling_factor; }
};

// Loads everything needed to generate with the model at `path`. Throws i2i::Error naming the file and
// the problem (unsupported family, missing tensors, no tokenizer, ...). Calls init_runtime first (malloc
// tuning, once per process; I2I_NO_MALLOPT=1 opts out, see core/memory.h).
SdModel load_sd_model(const std::filesystem::path& path, const SdModelOptions& options = {});

// Frees the text encoders' prepared weights (Linear::released: their layers keep their sources, views of
// the model file) / prepares them again, bit for bit as loaded (a LoRA merged into them must be merged again
// afterwards: LoraLayers::remerge). prepare_text_encoders does nothing when they are prepared.
void release_text_encoders(SdModel& model);
void prepare_text_encoders(SdModel& model);

// The precision `choice` resolves to for a UNet of `unet_parameters` parameters on this CPU: auto is bf16
// where the CPU computes bf16 natively and the model is large enough for bf16 to pay (>= 100M UNet
// parameters; the tiny test models stay float32 and match the fixtures exactly), else float32.
Precision resolve_precision(PrecisionChoice choice, int64_t unet_parameters);

// The scheduler configuration of Stable Diffusion 1.5 (scheduler_config.json), used when a checkpoint
// carries none.
nlohmann::json sd15_scheduler_config();
// SDXL base 1.0's (and refiner's) scheduler_config.json: SD 1.5's betas, EulerDiscreteScheduler with
// "leading" timestep spacing; used for SDXL checkpoints that carry none.
nlohmann::json sdxl_scheduler_config();

}  // namespace i2i
