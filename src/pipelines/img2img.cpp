#include "pipelines/img2img.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "core/memory.h"
#include "pipelines/latent_ops.h"
#include "sampling/scheduler.h"

namespace i2i {
namespace {

// Scaled latents of a VAE posterior sample of `image` ([1, H, W, 3]): one draw shared by the batch from a
// single source, or one per image from per-image sources.
Tensor vae_sample(const SdModel& model, const Tensor& image, const std::vector<NoiseSource*>& noise,
                  int64_t batch) {
  VaePosterior posterior = model.vae.encode_auto(image);
  const Shape one = posterior.mean.shape();
  Shape shape = one;
  shape[0] = batch;
  Tensor eps = noise.size() == 1 ? repeat_batch(noise[0]->randn(one), batch) : draw_batch(noise, shape);
  Tensor stddev = posterior.std();
  Tensor latents = Tensor::empty(shape);
  const int64_t per = posterior.mean.numel();
  const float* m = posterior.mean.data<float>();
  const float* s = stddev.data<float>();
  const float* e = eps.data<float>();
  float* l = latents.data<float>();
  const float scale = model.vae_scale();
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t i = 0; i < per; ++i) l[b * per + i] = scale * (m[i] + s[i] * e[b * per + i]);
  return latents;
}

// diffusers' mask: binarised (>= 0.5 -> 1), nearest-neighbour downsampled by `down` (F.interpolate
// 'nearest' picks pixel (y * down, x * down)).
Tensor latent_mask(const Tensor& mask, int64_t down) {
  const int64_t H = mask.dim(1), W = mask.dim(2), h = H / down, w = W / down;
  Tensor out = Tensor::empty({1, h, w, 1});
  const float* m = mask.data<float>();
  float* o = out.data<float>();
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) o[y * w + x] = m[(y * down) * W + x * down] >= 0.5f ? 1.0f : 0.0f;
  return out;
}

// The init image with the repainted area blacked out (image * (mask < 0.5)), what the 9-channel UNet sees.
Tensor masked_image(const Tensor& image, const Tensor& mask) {
  Tensor out = image.clone();
  float* p = out.data<float>();
  const float* m = mask.data<float>();
  const int64_t n = mask.numel();
  for (int64_t k = 0; k < n; ++k)
    if (!(m[k] < 0.5f))
      for (int c = 0; c < 3; ++c) p[k * 3 + c] = 0.0f;
  return out;
}

// AUTOMATIC1111's latent masked-content modes: the masked area of the init latents becomes noise or zeros.
Tensor fill_latents(const Tensor& latents, const Tensor& mask, LatentFill fill,
                    const std::vector<NoiseSource*>& noise) {
  Tensor fill_values =
      fill == LatentFill::LatentNoise ? draw_batch(noise, latents.shape()) : Tensor::zeros(latents.shape());
  // blend_masked(x, keep, m) = (1 - m) * keep + m * x: the masked area from the fill, the rest unchanged.
  return blend_masked(fill_values, latents, mask);
}

}  // namespace

Tensor image_to_tensor(const Image& rgb) {
  check(rgb.channels == 3, "image_to_tensor expects an RGB image");
  Tensor t = Tensor::empty({1, rgb.height, rgb.width, 3});
  float* p = t.data<float>();
  const size_t n = static_cast<size_t>(rgb.width) * static_cast<size_t>(rgb.height) * 3;
  for (size_t i = 0; i < n; ++i) p[i] = 2.0f * (static_cast<float>(rgb.pixels[i]) / 255.0f) - 1.0f;
  return t;
}

Tensor mask_to_tensor(const Image& mask) {
  const Image gray = mask.channels == 1 ? mask : to_gray(mask);
  Tensor t = Tensor::empty({1, gray.height, gray.width, 1});
  float* p = t.data<float>();
  for (size_t i = 0; i < gray.pixels.size(); ++i) p[i] = static_cast<float>(gray.pixels[i]) / 255.0f;
  return t;
}

Image tensor_to_image(const Tensor& images, int64_t b) {
  const int64_t H = images.dim(1), W = images.dim(2);
  Image img(static_cast<int>(W), static_cast<int>(H), 3);
  const float* p = images.data<float>() + b * H * W * 3;
  for (int64_t i = 0; i < H * W * 3; ++i) {
    float v = std::nearbyint(p[i] * 255.0f);  // round half to even (default rounding mode)
    img.pixels[static_cast<size_t>(i)] = static_cast<uint8_t>(std::fmin(255.0f, std::fmax(0.0f, v)));
  }
  return img;
}

Img2ImgResult run_img2img(const SdModel& model, const Img2ImgRequest& req,
                          const std::vector<NoiseSource*>& noise_in,
                          const std::function<void(const StepInfo&)>& on_step) {
  check(req.strength >= 0.0 && req.strength <= 1.0, "strength must be between 0 and 1");
  check(req.steps >= 1, "steps must be at least 1");
  check(req.batch_size >= 1, "batch size must be at least 1");
  check(!noise_in.empty() && (noise_in.size() == 1 || noise_in.size() == static_cast<size_t>(req.batch_size)),
        "img2img needs one noise source, or one per image");
  const Tensor& image = req.init_image;
  check(image.ndim() == 4 && image.dim(0) == 1 && image.dim(3) == 3, "init image must be [1, H, W, 3]");
  const int64_t down = model.vae.downscale();
  check(image.dim(1) % down == 0 && image.dim(2) % down == 0,
        "image size " + std::to_string(image.dim(2)) + "x" + std::to_string(image.dim(1)) +
            " is not a multiple of " + std::to_string(down));
  const int64_t B = req.batch_size;
  const bool cfg = req.cfg_scale > 1.0;
  const int64_t unet_channels = model.unet.config().in_channels;
  const bool nine = unet_channels == 9;
  check(unet_channels == 4 || nine,
        "the UNet takes " + std::to_string(unet_channels) +
            " input channels; only 4 (ordinary) and 9 (inpainting) are supported");
  Tensor mask = req.mask;
  if (mask.defined()) {
    check(mask.ndim() == 4 && mask.dim(0) == 1 && mask.dim(1) == image.dim(1) &&
              mask.dim(2) == image.dim(2) && mask.dim(3) == 1,
          "the inpainting mask must be [1, H, W, 1] at the init image's size");
  } else if (nine) {
    mask = Tensor::empty({1, image.dim(1), image.dim(2), 1});
    std::fill(mask.data<float>(), mask.data<float>() + mask.numel(), 1.0f);
  }
  const bool inpaint = mask.defined();
  const bool blend = inpaint && !nine;  // diffusers' 4-channel ("legacy") inpainting
  const LatentFill fill = inpaint ? req.latent_fill : LatentFill::Original;
  const std::string checkpoint_name = model.checkpoint.path.filename().string();
  for (const ControlUnit& u : req.controls) {
    validate_control_unit(u, image.dim(1), image.dim(2));
    check_controlnet_matches(u.model->config(), model.unet.config(), u.name, checkpoint_name);
    check(u.model->config().unet.in_channels == 4, "ControlNet " + u.name + " takes " +
                                                       std::to_string(u.model->config().unet.in_channels) +
                                                       " latent channels; only 4 are supported");
  }

  // Latents are channels-last; the noise is drawn as diffusers draws NCHW tensors.
  std::vector<std::unique_ptr<NchwNoiseForNhwc>> adapters;
  std::vector<NoiseSource*> noise;
  for (NoiseSource* n : noise_in) {
    adapters.push_back(std::make_unique<NchwNoiseForNhwc>(*n));
    noise.push_back(adapters.back().get());
  }

  Img2ImgResult result;
  // 1. Prompt.
  if (req.prompt_embeds.defined()) {
    const int64_t dim = model.unet.config().cross_attention_dim;
    auto check_embeds = [&](const Tensor& e, const char* name) {
      check(e.dtype() == DType::F32 && e.ndim() == 3 && e.dim(0) == 1 && e.dim(1) >= 1 && e.dim(2) == dim,
            std::string(name) + " must be float32 [1, T, " + std::to_string(dim) + "], got " +
                shape_str(e.shape()));
    };
    check_embeds(req.prompt_embeds, "prompt_embeds");
    result.prompt_embeds = req.prompt_embeds;
    if (cfg) {
      check(req.negative_prompt_embeds.defined(),
            "negative_prompt_embeds must be given with prompt_embeds when guidance is on (cfg scale > 1)");
      check_embeds(req.negative_prompt_embeds, "negative_prompt_embeds");
      check(req.negative_prompt_embeds.dim(1) == req.prompt_embeds.dim(1),
            "prompt_embeds and negative_prompt_embeds must have the same length, got " +
                shape_str(req.prompt_embeds.shape()) + " and " +
                shape_str(req.negative_prompt_embeds.shape()));
      result.negative_prompt_embeds = req.negative_prompt_embeds;
    }
  } else if (cfg) {
    check(model.tokenizer.has_value(), "the model has no tokenizer: give prompt embeddings or a tokenizer");
    const ClipTokenizer& tok = *model.tokenizer;
    PromptPair p =
        encode_prompt_pair(tok, model.text_encoder, req.prompt, req.negative_prompt, req.prompt_options);
    result.prompt_embeds = p.cond;
    result.negative_prompt_embeds = p.uncond;
  } else {
    check(model.tokenizer.has_value(), "the model has no tokenizer: give prompt embeddings or a tokenizer");
    result.prompt_embeds =
        encode_prompt(*model.tokenizer, model.text_encoder, req.prompt, req.prompt_options);
  }
  Tensor context = cfg ? concat_batch({repeat_batch(result.negative_prompt_embeds, B),
                                       repeat_batch(result.prompt_embeds, B)})
                       : repeat_batch(result.prompt_embeds, B);

  // 2. Timesteps for the strength.
  SchedulerConfig sc = SchedulerConfig::from_json(model.scheduler_config, "the model's scheduler config");
  std::unique_ptr<Scheduler> scheduler = make_scheduler(req.sampler, sc, req.schedule);
  // diffusers runs the last int(steps * strength) steps. Strength 0 changes nothing (the init image goes
  // through the VAE and back); a positive strength too small for the step count is an error, not a no-op.
  const int denoise_steps = std::min(static_cast<int>(req.steps * req.strength), req.steps);
  if (denoise_steps == 0 && req.strength > 0)
    throw Error("strength " + std::to_string(req.strength) + " with " + std::to_string(req.steps) +
                " steps leaves no denoising step (img2img runs int(steps x strength) steps): raise --steps "
                "or --strength");
  int first = 0, last = 0;
  if (denoise_steps > 0) {
    Img2ImgPlan plan = scheduler->img2img_timesteps(req.steps, req.strength);
    first = plan.begin_index;
    last = static_cast<int>(scheduler->timesteps().size());
  }

  // 3. Init latents, in diffusers' draw order.
  const Shape latent_shape = {B, image.dim(1) / down, image.dim(2) / down,
                              static_cast<int64_t>(model.vae.config().latent_channels)};
  if (inpaint) result.mask_latents = latent_mask(mask, down);
  // Inpainting at full strength starts from pure noise (diffusers' is_strength_max), unless a latent fill
  // asks for the init latents to be noised (AUTOMATIC1111).
  const bool pure_noise = inpaint && req.strength == 1.0 && fill == LatentFill::Original && first < last;
  Tensor image_latents;
  if (!pure_noise || blend) {
    image_latents = vae_sample(model, image, noise, B);
    if (fill != LatentFill::Original)
      image_latents = fill_latents(image_latents, result.mask_latents, fill, noise);
  }
  Tensor latents = image_latents, start_noise;
  if (first < last) {
    start_noise = draw_batch(noise, latent_shape);
    latents = pure_noise ? scale_tensor(start_noise, scheduler->init_noise_sigma())
                         : scheduler->add_noise(image_latents, start_noise, first);
  }
  if (inpaint) result.masked_image_latents = vae_sample(model, masked_image(image, mask), noise, B);

  // 4. Denoise.
  const float guidance = static_cast<float>(req.cfg_scale);
  Tensor unet_extra;  // 9-channel UNet: mask and masked-image latents, CFG-doubled
  if (nine) {
    Tensor extra = concat_channels({result.mask_latents, result.masked_image_latents});
    unet_extra = cfg ? concat_batch({extra, extra}) : extra;
  }
  release_free_memory();
  BatchNoise step_noise(noise);  // one generator per image: the scheduler's draws are per image too
  for (int i = first; i < last; ++i) {
    Tensor model_in = cfg ? concat_batch({latents, latents}) : latents;
    model_in = scheduler->scale_model_input(model_in, i);
    const float t = static_cast<float>(scheduler->timestep(i));
    std::optional<UNetResiduals> residuals =
        control_residuals(req.controls, model_in, t, context, i - first, last - first);
    Tensor unet_in = nine ? concat_channels({model_in, unet_extra}) : model_in;
    Tensor pred = model.unet.forward(unet_in, {t}, context, residuals ? &*residuals : nullptr);
    if (cfg) {
      const int64_t half = pred.numel() / 2;
      Tensor guided = Tensor::empty(latent_shape);
      const float* u = pred.data<float>();
      const float* c = u + half;
      float* g = guided.data<float>();
      for (int64_t k = 0; k < half; ++k) g[k] = u[k] + guidance * (c[k] - u[k]);
      pred = guided;
    }
    latents = scheduler->step(pred, i, latents, step_noise);
    if (blend) {
      // Outside the mask: the init latents at the next step's noise level (unnoised after the last step).
      Tensor keep = i + 1 < last ? scheduler->add_noise(image_latents, start_noise, i + 1) : image_latents;
      latents = blend_masked(latents, keep, result.mask_latents);
    }
    result.step_latents.push_back(latents);
    result.step_timesteps.push_back(scheduler->timestep(i));
    if (on_step) on_step({i - first + 1, last - first});
  }
  result.latents = latents;

  release_free_memory();
  // 5. Decode.
  Tensor z = scale_tensor(latents, 1.0f);
  {
    float* p = z.data<float>();
    const float scale = model.vae_scale();
    for (int64_t k = 0; k < z.numel(); ++k) p[k] = p[k] / scale;
  }
  Tensor decoded = model.vae.decode_auto(z);
  float* p = decoded.data<float>();
  for (int64_t k = 0; k < decoded.numel(); ++k) p[k] = std::fmin(1.0f, std::fmax(0.0f, p[k] / 2.0f + 0.5f));
  result.images = decoded;
  return result;
}

}  // namespace i2i
