// The img2img pipeline (diffusers' StableDiffusionImg2ImgPipeline, step for step): encode the init image
// with the VAE, noise it to the level the strength picks, denoise with classifier-free guidance, decode.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "io/image.h"
#include "pipelines/prompt_embedding.h"
#include "pipelines/sd_model.h"
#include "sampling/noise.h"

namespace i2i {

struct Img2ImgRequest {
  Tensor init_image;  // [1, H, W, 3] NHWC in [-1, 1]; H and W multiples of 8 (see image_to_tensor)
  std::string prompt;
  std::string negative_prompt;
  double strength = 0.75;
  int steps = 20;
  double cfg_scale = 7.0;  // > 1: classifier-free guidance; <= 1: one UNet pass, no negative prompt
  std::string sampler = "Euler a";
  std::string schedule;  // "" (the sampler's own), "karras", "normal"
  int batch_size = 1;
  PromptOptions prompt_options;
};

struct StepInfo {
  int step = 0;   // 1-based
  int total = 0;  // denoising steps this run takes
};

struct Img2ImgResult {
  Tensor latents;                    // [B, h, w, 4] NHWC after the last step (before / scaling_factor)
  Tensor images;                     // [B, H, W, 3] NHWC in [0, 1]
  std::vector<Tensor> step_latents;  // after each step
  std::vector<double> step_timesteps;
  Tensor prompt_embeds, negative_prompt_embeds;  // [1, T, D] (negative undefined without guidance)
};

// Noise comes from `noise`: either one source for the whole batch (diffusers' generator semantics: the
// VAE sample is drawn once and shared, the other draws are [B, ...]) or one source per image
// (AUTOMATIC1111's seed, seed+1, ...: image b is exactly the batch-1 result of source b).
Img2ImgResult run_img2img(const SdModel& model, const Img2ImgRequest& request,
                          const std::vector<NoiseSource*>& noise,
                          const std::function<void(const StepInfo&)>& on_step = {});

// uint8 image -> [1, H, W, 3] in [-1, 1] (x / 255 * 2 - 1 in float32, as diffusers).
Tensor image_to_tensor(const Image& rgb);
// Picture b of [B, H, W, 3] in [0, 1] -> 8-bit RGB (round(x * 255), halves to even, as diffusers/PIL).
Image tensor_to_image(const Tensor& images, int64_t b);

}  // namespace i2i
