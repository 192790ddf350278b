// The one denoising pipeline behind txt2img, img2img, inpainting and ControlNet, step for step as diffusers
// 0.27's StableDiffusionPipeline, StableDiffusionImg2ImgPipeline, StableDiffusionInpaintPipeline (9-channel
// UNets and the 4-channel "legacy" latent blending) and the ControlNet img2img / inpaint pipelines, in their
// stages: conditioning (prompt embeddings) -> timesteps (the strength's window) -> initial latents (the init
// image's VAE latents noised to that level, or pure noise) -> denoising loop (classifier-free guidance plus
// ControlNet residuals and IP-Adapter image tokens) -> decode. Noise is drawn in diffusers' order (see
// run_img2img). This is the tensor level; generate() (generation.h) is the picture-level entry point the
// front ends use.
#pragma once

#include <atomic>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "io/image.h"
#include "pipelines/control_units.h"
#include "pipelines/ip_adapter_units.h"
#include "pipelines/prompt_embedding.h"
#include "pipelines/reference_control.h"
#include "pipelines/sd_model.h"
#include "sampling/noise.h"

namespace i2i {

// What the masked area of the init latents starts from (AUTOMATIC1111's masked content modes that act on
// latents; its "fill" mode acts on pixels, see inpaint_mask.h): the init image's latents, random noise
// (one extra draw right after the init image's VAE sample), or zeros.
enum class LatentFill { Original, LatentNoise, LatentNothing };

// SDXL's size and crop conditioning ("micro-conditioning", diffusers' _get_add_time_ids), in diffusers'
// order: sizes (height, width), crops (top, left). Unset sizes default to the output size, the negative ones
// to the positive ones. The base model's time ids are original + crop + target (6 values) for both CFG
// halves, the negative half with the negative sizes but the POSITIVE crop (diffusers 0.27.2's img2img
// pipeline ignores negative_crops_top_left for the base model; its txt2img pipeline uses it when both
// negative sizes are given, and so does txt2img here); the refiner's (requires_aesthetics_score) are original
// + crop
// + aesthetic score (5 values), the negative half with its own crop (default 0, 0) and score.
struct XlSize {
  int64_t a = 0, b = 0;  // (height, width) or (top, left)
  bool operator==(const XlSize& o) const { return a == o.a && b == o.b; }
};
struct XlConditions {
  std::optional<XlSize> original_size, target_size;
  XlSize crops_top_left;
  std::optional<XlSize> negative_original_size, negative_target_size;
  XlSize negative_crops_top_left;
  double aesthetic_score = 6.0, negative_aesthetic_score = 2.5;
};

struct Img2ImgRequest {
  // [1, H, W, 3] NHWC in [-1, 1]; H and W multiples of 8 (see image_to_tensor). Undefined: txt2img (every
  // step runs from pure noise times the scheduler's init sigma; no mask) at width x height.
  Tensor init_image;
  int64_t width = 0, height = 0;  // txt2img only: the picture's size (multiples of 8)
  std::string prompt;
  std::string negative_prompt;
  double strength = 0.75;
  int steps = 20;
  // > 1: classifier-free guidance; <= 1: one UNet pass, no negative prompt. An LCM-distilled UNet
  // (time_cond_proj_dim) always runs one pass and gets the scale as its guidance embedding.
  double cfg_scale = 7.0;
  std::string sampler = "Euler a";
  std::string schedule;  // "" (the sampler's own), "karras", "normal", "trailing" (make_scheduler)
  int batch_size = 1;
  PromptOptions prompt_options;
  // Precomputed prompt embeddings (optional), used instead of encoding `prompt` / `negative_prompt` with
  // the model's tokenizer and text encoder: [1, T, D] float32 with D the UNet's cross-attention width.
  // When prompt_embeds is set and guidance is on, negative_prompt_embeds must be set too, with the same
  // shape (the text is then never tokenized, so a model without a tokenizer works).
  Tensor prompt_embeds, negative_prompt_embeds;
  // SDXL: with precomputed embeddings, the pooled ones too ([1, projection]), and the size conditioning.
  Tensor pooled_prompt_embeds, negative_pooled_prompt_embeds;
  XlConditions xl;

  // Inpainting (optional): [1, H, W, 1] in [0, 1]; values >= 0.5 are repainted (diffusers binarises the
  // mask). With a 9-channel UNet the mask and the VAE latents of the masked-out image are UNet inputs; with a
  // 4-channel UNet the latents outside the mask are replaced after every step by the init latents noised to
  // the next step's level. A 9-channel UNet without a mask repaints everything (an all-white mask).
  Tensor mask;
  LatentFill latent_fill = LatentFill::Original;
  // ControlNets steering the UNet (any number; their residuals are summed).
  std::vector<ControlUnit> controls;
  // Reference-only conditioning (reference_control.h): one extra UNet pass per step; none when unset.
  std::optional<ReferenceUnit> reference;
  // IP-Adapter image prompts (any number; their attention outputs add up).
  std::vector<IpAdapterUnit> ip_adapters;
  // AUTOMATIC1111's SDXL refiner hand-off (modules/sd_samplers_common.py apply_refiner): the steps whose
  // progress ratio (999 - t) / 1000 (float32; t = the training step whose sigma is nearest the step's, or
  // the timestep for samplers without sigmas) reaches refiner_switch_at are denoised by `refiner` (an SDXL
  // model; not owned) with its own prompt encoding and time ids, on the same latents and sampler state;
  // the pictures are then decoded with its VAE. None when null.
  const SdModel* refiner = nullptr;
  double refiner_switch_at = 0.8;
  // Called when the run is done with the text encoders of a model: the request's model once its prompts are
  // encoded, then (with a hand-off) the refiner once its own are. ModelSet releases them there when it does
  // not keep them (SdModelOptions::keep_text_encoders). Unset: nothing is called.
  std::function<void(const SdModel&)> text_encoders_done;
  // Set from any thread to stop the run before its next UNet or VAE call (run_img2img throws Cancelled).
  const std::atomic<bool>* cancel = nullptr;
};

struct StepInfo {
  int step = 0;                     // 1-based
  int total = 0;                    // denoising steps this run takes
  const Tensor* latents = nullptr;  // [B, h, w, 4] NHWC after this step
};
// Called after every step; returning false stops the run (run_img2img throws Cancelled).
using StepCallback = std::function<bool(const StepInfo&)>;

struct Img2ImgResult {
  Tensor latents;                    // [B, h, w, 4] NHWC after the last step (before / scaling_factor)
  Tensor initial_latents;            // [B, h, w, 4] the latents entering the first step
  Tensor images;                     // [B, H, W, 3] NHWC in [0, 1]
  std::vector<Tensor> step_latents;  // after each step
  std::vector<double> step_timesteps;
  Tensor prompt_embeds, negative_prompt_embeds;  // [1, T, D] (negative undefined without guidance)
  // SDXL: the pooled embeddings [1, P] and the time ids fed to the UNet ([2B, n] with guidance:
  // [negative x B, positive x B]; else [B, n]).
  Tensor pooled_prompt_embeds, negative_pooled_prompt_embeds, add_time_ids;
  // Inpainting: the latent mask [1, h, w, 1] (nearest-neighbour samples of the binarised mask) and the
  // scaled VAE latents of the masked-out image [B, h, w, 4].
  Tensor mask_latents, masked_image_latents;
  // With a reference unit: its scaled VAE latents [B, h, w, 4] and, per step, those latents noised to the
  // step's level (scheduler.add_noise, before CFG doubling).
  Tensor reference_latents;
  std::vector<Tensor> reference_noised;
  // With a refiner: the index into step_latents of its first step (-1: it never took over).
  int refiner_first_step = -1;
};

// Noise comes from `noise`: either one source for the whole batch (diffusers' generator semantics: the
// VAE samples are drawn once and shared, the other draws are [B, ...]) or one source per image
// (AUTOMATIC1111's seed, seed+1, ...: image b is exactly the batch-1 result of source b).
// Draw order (diffusers): img2img: VAE sample of the init image, start noise (add_noise), scheduler draws.
// Inpainting at strength 1 with a 9-channel UNet: start noise (x init_noise_sigma, no add_noise), VAE
// sample of the masked image; below strength 1: init image sample, start noise + add_noise, masked image
// sample; 4-channel inpainting: init image sample, start noise (pure at strength 1), masked image sample.
// Then the scheduler's draws. LatentFill::LatentNoise adds one draw after the init image sample; both latent
// fills make inpainting at strength 1 start from the noised init latents instead of pure noise (as
// AUTOMATIC1111 does), so the fill matters. txt2img: start noise (one [B, ...] draw from a single source),
// then the scheduler's draws. A reference unit draws after all of these: its VAE sample before the loop,
// and in every step its noise before the scheduler's draw (reference_control.h).
// Throws ParameterError for bad settings, i2i::Error for inputs that do not fit the model, Cancelled.
Img2ImgResult run_img2img(const SdModel& model, const Img2ImgRequest& request,
                          const std::vector<NoiseSource*>& noise, const StepCallback& on_step = {});

// img2img runs the last int(steps x strength) steps: a positive strength that leaves none (steps x
// strength below 1, e.g. 2 x 0.3 for a Turbo model) is a ParameterError naming both values and the fewest
// steps that would do (strength 0 is fine: the picture only goes through the VAE).
void check_denoising_steps(int steps, double strength);

// uint8 image -> [1, H, W, 3] in [-1, 1] (x / 255 * 2 - 1 in float32, as diffusers).
Tensor image_to_tensor(const Image& rgb);
// A mask image -> [1, H, W, 1] in [0, 1]: grey (PIL convert("L"), alpha dropped) / 255 in float32, as
// diffusers' mask processor (binarised later by run_img2img).
Tensor mask_to_tensor(const Image& mask);
// Picture b of [B, H, W, 3] in [0, 1] -> 8-bit RGB (round(x * 255), halves to even, as diffusers/PIL).
Image tensor_to_image(const Tensor& images, int64_t b);

}  // namespace i2i
