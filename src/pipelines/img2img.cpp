#include "pipelines/img2img.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "sampling/scheduler.h"

namespace i2i {
namespace {

// Stacks tensors of shape [1, ...] (or [n, ...]) along the first dimension.
Tensor concat_batch(const std::vector<Tensor>& parts) {
  Shape shape = parts.at(0).shape();
  int64_t n = 0;
  for (const auto& p : parts) n += p.dim(0);
  shape[0] = n;
  Tensor out = Tensor::empty(shape);
  char* dst = static_cast<char*>(out.raw());
  for (const auto& p : parts) {
    std::memcpy(dst, p.raw(), p.nbytes());
    dst += p.nbytes();
  }
  return out;
}

Tensor repeat_batch(const Tensor& x, int64_t times) {
  return concat_batch(std::vector<Tensor>(static_cast<size_t>(times), x));
}

// Draws [B, ...] for the batch: from one source, or [1, ...] from each per-image source.
Tensor draw(const std::vector<NoiseSource*>& noise, const Shape& shape) {
  if (noise.size() == 1) return noise[0]->randn(shape);
  Shape one = shape;
  one[0] = 1;
  std::vector<Tensor> parts;
  for (NoiseSource* n : noise) parts.push_back(n->randn(one));
  return concat_batch(parts);
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

  // Latents are channels-last; the noise is drawn as diffusers draws NCHW tensors.
  std::vector<std::unique_ptr<NchwNoiseForNhwc>> adapters;
  std::vector<NoiseSource*> noise;
  for (NoiseSource* n : noise_in) {
    adapters.push_back(std::make_unique<NchwNoiseForNhwc>(*n));
    noise.push_back(adapters.back().get());
  }

  Img2ImgResult result;
  // 1. Prompt.
  const ClipTokenizer& tok = *model.tokenizer;
  if (cfg) {
    PromptPair p =
        encode_prompt_pair(tok, model.text_encoder, req.prompt, req.negative_prompt, req.prompt_options);
    result.prompt_embeds = p.cond;
    result.negative_prompt_embeds = p.uncond;
  } else {
    result.prompt_embeds = encode_prompt(tok, model.text_encoder, req.prompt, req.prompt_options);
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

  // 3. Init latents: a sample of the VAE posterior, scaled.
  VaePosterior posterior = model.vae.encode(image);
  const Shape latent_one = posterior.mean.shape();
  Shape latent_shape = latent_one;
  latent_shape[0] = B;
  Tensor eps = noise.size() == 1 ? repeat_batch(noise[0]->randn(latent_one), B) : draw(noise, latent_shape);
  Tensor stddev = posterior.std();
  Tensor latents = Tensor::empty(latent_shape);
  {
    const int64_t per = posterior.mean.numel();
    const float* m = posterior.mean.data<float>();
    const float* s = stddev.data<float>();
    const float* e = eps.data<float>();
    float* l = latents.data<float>();
    const float scale = model.vae_scale();
    for (int64_t b = 0; b < B; ++b)
      for (int64_t i = 0; i < per; ++i) l[b * per + i] = scale * (m[i] + s[i] * e[b * per + i]);
  }

  // 4. Noise to the starting level and denoise.
  if (first < last) {
    Tensor start_noise = draw(noise, latent_shape);
    latents = scheduler->add_noise(latents, start_noise, first);
  }
  const float guidance = static_cast<float>(req.cfg_scale);
  for (int i = first; i < last; ++i) {
    Tensor model_in = cfg ? concat_batch({latents, latents}) : latents;
    model_in = scheduler->scale_model_input(model_in, i);
    const float t = static_cast<float>(scheduler->timestep(i));
    Tensor pred = model.unet.forward(model_in, {t}, context);
    if (cfg) {
      const int64_t half = pred.numel() / 2;
      Tensor guided = Tensor::empty(latent_shape);
      const float* u = pred.data<float>();
      const float* c = u + half;
      float* g = guided.data<float>();
      for (int64_t k = 0; k < half; ++k) g[k] = u[k] + guidance * (c[k] - u[k]);
      pred = guided;
    }
    // One generator per image: the scheduler's draws must also be per image.
    struct BatchDraw : NoiseSource {
      const std::vector<NoiseSource*>& sources;
      explicit BatchDraw(const std::vector<NoiseSource*>& s) : sources(s) {}
      Tensor randn(const Shape& shape) override { return draw(sources, shape); }
    } step_noise(noise);
    latents = scheduler->step(pred, i, latents, step_noise);
    result.step_latents.push_back(latents);
    result.step_timesteps.push_back(scheduler->timestep(i));
    if (on_step) on_step({i - first + 1, last - first});
  }
  result.latents = latents;

  // 5. Decode.
  Tensor z = latents.clone();
  {
    float* p = z.data<float>();
    const float scale = model.vae_scale();
    for (int64_t k = 0; k < z.numel(); ++k) p[k] = p[k] / scale;
  }
  Tensor decoded = model.vae.decode(z);
  float* p = decoded.data<float>();
  for (int64_t k = 0; k < decoded.numel(); ++k) p[k] = std::fmin(1.0f, std::fmax(0.0f, p[k] / 2.0f + 0.5f));
  result.images = decoded;
  return result;
}

}  // namespace i2i
