#include "pipelines/pipeline_stages.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/memory.h"
#include "models/unet_time.h"
#include "pipelines/latent_ops.h"

namespace i2i::stages {
namespace {

// Broken weights or settings (NaN, infinities, a zero scaling factor) end in NaN pictures, which would be
// written as black: an error naming the stage where they first appear (checked once per step, cheaply, on
// the latents) and what to suspect.
bool all_finite(const Tensor& t) {
  const float* p = t.data<float>();
  for (int64_t k = 0; k < t.numel(); ++k)
    if (!std::isfinite(p[k])) return false;
  return true;
}

void check_finite(const Tensor& t, const std::string& what, const char* suspect) {
  if (!all_finite(t))
    throw Error(what + " hold NaN or infinite values: " + suspect + "; no picture was made");
}

constexpr const char* kSuspectModel = "the model's weights or its scheduler or VAE configuration are broken";

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
  check_finite(latents, "the init image's latents (VAE encoder)",
               "the VAE's weights or its scaling factor are broken");
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

void check_prompt_embeds(const SdModel& model, const Img2ImgRequest& req, bool cfg) {
  const int64_t dim = model.unet.config().cross_attention_dim;
  auto check_embeds = [&](const Tensor& e, const char* name) {
    if (!(e.dtype() == DType::F32 && e.ndim() == 3 && e.dim(0) == 1 && e.dim(1) >= 1 && e.dim(2) == dim))
      throw ParameterError("{" + std::string(name) + "} must be float32 [1, T, " + std::to_string(dim) +
                           "], got " + shape_str(e.shape()));
  };
  check_embeds(req.prompt_embeds, "prompt_embeds");
  if (!cfg) return;
  if (!req.negative_prompt_embeds.defined())
    throw ParameterError(
        "{negative_prompt_embeds} must be given with {prompt_embeds} when guidance is on ({cfg_scale} > 1)");
  check_embeds(req.negative_prompt_embeds, "negative_prompt_embeds");
  if (req.negative_prompt_embeds.dim(1) != req.prompt_embeds.dim(1))
    throw ParameterError("{prompt_embeds} and {negative_prompt_embeds} must have the same length, got " +
                         shape_str(req.prompt_embeds.shape()) + " and " +
                         shape_str(req.negative_prompt_embeds.shape()));
}

// The size the pipeline works at: the init image's, or (txt2img) the requested one.
void check_size(const SdModel& model, const Img2ImgRequest& req, Plan& p) {
  const Tensor& image = req.init_image;
  const int64_t down = model.vae.downscale();
  if (p.txt2img) {
    p.height = req.height;
    p.width = req.width;
    if (p.width <= 0 || p.height <= 0)
      throw ParameterError("txt2img needs a positive {width} and {height}, got " + std::to_string(p.width) +
                           "x" + std::to_string(p.height));
  } else {
    check(image.ndim() == 4 && image.dim(0) == 1 && image.dim(3) == 3, "init image must be [1, H, W, 3]");
    p.height = image.dim(1);
    p.width = image.dim(2);
  }
  check(p.height % down == 0 && p.width % down == 0, "image size " + std::to_string(p.width) + "x" +
                                                         std::to_string(p.height) + " is not a multiple of " +
                                                         std::to_string(down));
  p.latent_shape = {p.batch, p.height / down, p.width / down,
                    static_cast<int64_t>(model.vae.config().latent_channels)};
}

void check_mask(const Img2ImgRequest& req, Plan& p) {
  p.mask = req.mask;
  if (p.mask.defined()) {
    check(!p.txt2img, "inpainting needs an init image");
    check(p.mask.ndim() == 4 && p.mask.dim(0) == 1 && p.mask.dim(1) == p.height && p.mask.dim(2) == p.width &&
              p.mask.dim(3) == 1,
          "the inpainting mask must be [1, H, W, 1] at the init image's size");
  } else if (p.nine) {
    check(!p.txt2img, "a 9-channel inpainting model needs an init image");
    p.mask = Tensor::empty({1, p.height, p.width, 1});
    std::fill(p.mask.data<float>(), p.mask.data<float>() + p.mask.numel(), 1.0f);
  }
  p.inpaint = p.mask.defined();
  p.blend = p.inpaint && !p.nine;
  p.fill = p.inpaint ? req.latent_fill : LatentFill::Original;
}

void check_controls(const SdModel& model, const Img2ImgRequest& req, const Plan& p) {
  const std::string checkpoint_name = model.checkpoint.path.filename().string();
  for (const ControlUnit& u : req.controls) {
    validate_control_unit(u, p.height, p.width);
    check_controlnet_matches(u.model->config(), model.unet.config(), u.name, checkpoint_name);
    check(u.model->config().unet.in_channels == 4, "ControlNet " + u.name + " takes " +
                                                       std::to_string(u.model->config().unet.in_channels) +
                                                       " latent channels; only 4 are supported");
  }
}

}  // namespace

NhwcNoise::NhwcNoise(const std::vector<NoiseSource*>& noise) {
  for (NoiseSource* n : noise) {
    adapters.push_back(std::make_unique<NchwNoiseForNhwc>(*n));
    sources.push_back(adapters.back().get());
  }
}

void throw_if_cancelled(const std::atomic<bool>* cancel) {
  if (cancel && cancel->load(std::memory_order_relaxed)) throw Cancelled();
}

Plan check_request(const SdModel& model, const Img2ImgRequest& req, size_t noise_sources) {
  if (!(req.strength >= 0.0 && req.strength <= 1.0))
    throw ParameterError("{strength} must be between 0 and 1, got " + std::to_string(req.strength));
  if (req.steps < 1) throw ParameterError("{steps} must be at least 1, got " + std::to_string(req.steps));
  if (req.batch_size < 1) throw ParameterError("{batch_size} must be at least 1");
  check(noise_sources == 1 || noise_sources == static_cast<size_t>(req.batch_size),
        "the pipeline needs one noise source, or one per image");
  Plan p;
  p.batch = req.batch_size;
  p.txt2img = !req.init_image.defined();
  // diffusers: do_classifier_free_guidance = guidance_scale > 1 and time_cond_proj_dim is None.
  const int64_t guidance_dim = model.unet.config().time_cond_proj_dim;
  p.cfg = req.cfg_scale > 1.0 && guidance_dim == 0;
  if (guidance_dim > 0)
    p.guidance_embedding = guidance_scale_embedding(
        std::vector<float>(static_cast<size_t>(p.batch), static_cast<float>(req.cfg_scale - 1.0)),
        guidance_dim);
  const int64_t unet_channels = model.unet.config().in_channels;
  p.nine = unet_channels == 9;
  check(unet_channels == 4 || p.nine,
        "the UNet takes " + std::to_string(unet_channels) +
            " input channels; only 4 (ordinary) and 9 (inpainting) are supported");
  check_size(model, req, p);
  check_mask(req, p);
  check_controls(model, req, p);
  if (req.reference) validate_reference_unit(*req.reference, p.height, p.width);
  if (req.reference && model.sdxl())
    throw ParameterError(
        "reference-only conditioning ({reference_image}) is not supported for SDXL models yet");
  for (const IpAdapterUnit& u : req.ip_adapters) validate_ip_adapter_unit(u, p.cfg);
  p.image_prompts = image_prompts(req.ip_adapters, p.batch, p.cfg);
  if (req.prompt_embeds.defined()) check_prompt_embeds(model, req, p.cfg);
  return p;
}

namespace {

// diffusers' _get_add_time_ids for one CFG half.
std::vector<float> xl_time_ids(const SdModel& model, const XlConditions& xl, const Plan& plan,
                               bool negative) {
  const XlSize out{plan.height, plan.width};
  const XlSize orig = xl.original_size.value_or(out), target = xl.target_size.value_or(out);
  auto f = [](int64_t v) { return static_cast<float>(v); };
  if (model.requires_aesthetics_score) {
    const XlSize o = negative ? xl.negative_original_size.value_or(orig) : orig;
    const XlSize c = negative ? xl.negative_crops_top_left : xl.crops_top_left;
    const double score = negative ? xl.negative_aesthetic_score : xl.aesthetic_score;
    return {f(o.a), f(o.b), f(c.a), f(c.b), static_cast<float>(score)};
  }
  const XlSize o = negative ? xl.negative_original_size.value_or(orig) : orig;
  const XlSize t = negative ? xl.negative_target_size.value_or(target) : target;
  // The positive crop for both halves (diffusers 0.27.2's img2img / inpaint pipelines); its txt2img
  // pipeline takes the negative crop when both negative sizes are given.
  const bool own_crop = negative && plan.txt2img && xl.negative_original_size && xl.negative_target_size;
  const XlSize c = own_crop ? xl.negative_crops_top_left : xl.crops_top_left;
  return {f(o.a), f(o.b), f(c.a), f(c.b), f(t.a), f(t.b)};
}

// Rows [negative x B, positive x B] (CFG) or [positive x B] of per-half vectors.
Tensor cfg_rows(const std::vector<float>& negative, const std::vector<float>& positive, const Plan& plan) {
  std::vector<float> all;
  for (int half = plan.cfg ? 0 : 1; half < 2; ++half)
    for (int64_t b = 0; b < plan.batch; ++b) {
      const std::vector<float>& v = half == 0 ? negative : positive;
      all.insert(all.end(), v.begin(), v.end());
    }
  const int64_t rows = plan.batch * (plan.cfg ? 2 : 1);
  return Tensor::from_vector({rows, static_cast<int64_t>(positive.size())}, all);
}

void check_pooled_embeds(const SdModel& model, const Img2ImgRequest& req, bool cfg) {
  const int64_t dim = model.text_encoder_2.config().projection_dim;
  auto check_one = [&](const Tensor& e, const char* name) {
    if (!(e.defined() && e.dtype() == DType::F32 && e.ndim() == 2 && e.dim(0) == 1 && e.dim(1) == dim))
      throw ParameterError("{" + std::string(name) + "} must be float32 [1, " + std::to_string(dim) +
                           "] for an SDXL model, got " + (e.defined() ? shape_str(e.shape()) : "none"));
  };
  check_one(req.pooled_prompt_embeds, "pooled_prompt_embeds");
  if (cfg) check_one(req.negative_pooled_prompt_embeds, "negative_pooled_prompt_embeds");
}

}  // namespace

TextConditioning encode_conditioning(const SdModel& model, const Img2ImgRequest& req, const Plan& plan,
                                     Img2ImgResult& result) {
  if (req.prompt_embeds.defined()) {
    result.prompt_embeds = req.prompt_embeds;
    if (plan.cfg) result.negative_prompt_embeds = req.negative_prompt_embeds;
    if (model.sdxl()) {
      check_pooled_embeds(model, req, plan.cfg);
      result.pooled_prompt_embeds = req.pooled_prompt_embeds;
      if (plan.cfg) result.negative_pooled_prompt_embeds = req.negative_pooled_prompt_embeds;
    }
  } else if (model.sdxl()) {
    check(model.tokenizer_2.has_value(), "the SDXL model has no tokenizer_2: give prompt embeddings");
    XlTextEncoders enc;
    if (!model.refiner()) {
      enc.tokenizer1 = &*model.tokenizer;
      enc.encoder1 = &model.text_encoder;
    }
    enc.tokenizer2 = &*model.tokenizer_2;
    enc.encoder2 = &model.text_encoder_2;
    if (plan.cfg) {
      XlPromptPair p = encode_prompt_pair_xl(enc, req.prompt, req.negative_prompt,
                                             model.force_zeros_for_empty_prompt, req.prompt_options);
      result.prompt_embeds = p.cond.embeds;
      result.pooled_prompt_embeds = p.cond.pooled;
      result.negative_prompt_embeds = p.uncond.embeds;
      result.negative_pooled_prompt_embeds = p.uncond.pooled;
    } else {
      XlPromptEmbedding e = encode_prompt_xl(enc, req.prompt, req.prompt_options);
      result.prompt_embeds = e.embeds;
      result.pooled_prompt_embeds = e.pooled;
    }
  } else {
    check(model.tokenizer.has_value(), "the model has no tokenizer: give prompt embeddings or a tokenizer");
    if (plan.cfg) {
      PromptPair p = encode_prompt_pair(*model.tokenizer, model.text_encoder, req.prompt, req.negative_prompt,
                                        req.prompt_options);
      result.prompt_embeds = p.cond;
      result.negative_prompt_embeds = p.uncond;
    } else {
      result.prompt_embeds =
          encode_prompt(*model.tokenizer, model.text_encoder, req.prompt, req.prompt_options);
    }
  }
  const int64_t B = plan.batch;
  TextConditioning text;
  text.context = plan.cfg ? concat_batch({repeat_batch(result.negative_prompt_embeds, B),
                                          repeat_batch(result.prompt_embeds, B)})
                          : repeat_batch(result.prompt_embeds, B);
  if (model.sdxl()) {
    const Tensor& neg = plan.cfg ? result.negative_pooled_prompt_embeds : result.pooled_prompt_embeds;
    text.text_embeds = cfg_rows(neg.to_vector(), result.pooled_prompt_embeds.to_vector(), plan);
    text.time_ids =
        cfg_rows(xl_time_ids(model, req.xl, plan, true), xl_time_ids(model, req.xl, plan, false), plan);
    result.add_time_ids = text.time_ids;
  }
  return text;
}

StepWindow get_timesteps(Scheduler& scheduler, const Img2ImgRequest& req, const Plan& plan) {
  if (plan.txt2img) {
    scheduler.set_timesteps(req.steps);
    return {0, static_cast<int>(scheduler.timesteps().size())};
  }
  // diffusers runs the last int(steps * strength) steps. Strength 0 changes nothing (the init image goes
  // through the VAE and back); a positive strength too small for the step count is an error, not a no-op.
  check_denoising_steps(req.steps, req.strength);
  if (std::min(static_cast<int>(req.steps * req.strength), req.steps) == 0) return {};
  Img2ImgPlan window = scheduler.img2img_timesteps(req.steps, req.strength);
  return {window.begin_index, static_cast<int>(scheduler.timesteps().size())};
}

std::optional<Handoff> prepare_handoff(const SdModel& model, const Img2ImgRequest& req, const Plan& plan,
                                       const Scheduler& scheduler, const StepWindow& window) {
  const SdModel& refiner = *req.refiner;
  const std::string name = refiner.checkpoint.path.filename().string();
  if (!model.sdxl() || !refiner.refiner())
    throw ParameterError(
        "{refiner} " + Error::literal(name) + " must be an SDXL refiner taking over from an SDXL model (" +
        family_name(model.checkpoint.family) + " model, " +
        (refiner.refiner() ? std::string("SDXL refiner")
                           : family_name(refiner.checkpoint.family) + " given as the refiner") +
        ")");
  if (refiner.vae.config().latent_channels != model.vae.config().latent_channels ||
      refiner.vae.downscale() != model.vae.downscale())
    throw ParameterError("{refiner} " + Error::literal(name) + ": its latents do not match the model's");
  if (!req.controls.empty() || !req.ip_adapters.empty() || req.reference)
    throw ParameterError(
        "{refiner}: the refiner hand-off does not take ControlNet, IP-Adapter or reference units");
  // A1111: completed_ratio = (999 - t) / 1000 in float32, t the training step whose sigma is nearest the
  // step's (samplers without sigmas: the timestep itself); the switch happens at the first model call whose
  // ratio is not below refiner_switch_at.
  std::vector<float> train;  // k-diffusion's sigmas of the training steps, ((1 - a) / a) ** 0.5 in float32
  for (float a : scheduler.alphas_cumprod()) train.push_back(std::sqrt((1.0f - a) / a));
  const std::vector<float>& sigmas = scheduler.sigmas();
  const float switch_at = static_cast<float>(req.refiner_switch_at);
  int from = window.last;
  for (int i = window.first; i < window.last; ++i) {
    int64_t t = 0;
    if (static_cast<size_t>(i) < sigmas.size()) {
      float best = INFINITY;
      for (size_t k = 0; k < train.size(); ++k)
        if (std::fabs(train[k] - sigmas[static_cast<size_t>(i)]) < best) {
          best = std::fabs(train[k] - sigmas[static_cast<size_t>(i)]);
          t = static_cast<int64_t>(k);
        }
    } else {
      t = static_cast<int64_t>(scheduler.timestep(i));
    }
    const float ratio = static_cast<float>(999 - t) / 1000.0f;
    if (!(ratio < switch_at)) {
      from = i;
      break;
    }
  }
  if (from >= window.last) return std::nullopt;
  Handoff h;
  h.model = &refiner;
  h.from = from;
  Img2ImgResult scratch;
  h.text = encode_conditioning(refiner, req, plan, scratch);
  return h;
}

InitialLatents prepare_latents(const SdModel& model, const Img2ImgRequest& req, const Plan& plan,
                               Scheduler& scheduler, const StepWindow& window,
                               const std::vector<NoiseSource*>& noise, Img2ImgResult& result) {
  const int64_t down = model.vae.downscale();
  if (plan.inpaint) result.mask_latents = latent_mask(plan.mask, down);
  // Inpainting at full strength starts from pure noise (diffusers' is_strength_max), unless a latent fill
  // asks for the init latents to be noised (AUTOMATIC1111); txt2img always does.
  const bool steps = window.first < window.last;
  const bool pure_noise =
      plan.txt2img || (plan.inpaint && req.strength == 1.0 && plan.fill == LatentFill::Original && steps);
  InitialLatents init;
  if (!pure_noise || plan.blend) {
    throw_if_cancelled(req.cancel);
    init.image_latents = vae_sample(model, req.init_image, noise, plan.batch);
    if (plan.fill != LatentFill::Original)
      init.image_latents = fill_latents(init.image_latents, result.mask_latents, plan.fill, noise);
  }
  init.latents = init.image_latents;
  if (steps) {
    init.start_noise = draw_batch(noise, plan.latent_shape);
    init.latents = pure_noise ? scale_tensor(init.start_noise, scheduler.init_noise_sigma())
                              : scheduler.add_noise(init.image_latents, init.start_noise, window.first);
  }
  if (plan.inpaint) {
    throw_if_cancelled(req.cancel);
    result.masked_image_latents =
        vae_sample(model, masked_image(req.init_image, plan.mask), noise, plan.batch);
  }
  if (plan.nine) {
    Tensor extra = concat_channels({result.mask_latents, result.masked_image_latents});
    init.unet_extra = plan.cfg ? concat_batch({extra, extra}) : extra;
  }
  return init;
}

namespace {

// One noise prediction: the UNet (with the active ControlNets' residuals and the image prompts) on the
// CFG-doubled latents, then guidance uncond + scale * (cond - uncond).
Tensor predict_noise(const SdModel& model, const Img2ImgRequest& req, const Plan& plan, Scheduler& scheduler,
                     int i, const StepWindow& window, const Tensor& latents, const TextConditioning& text,
                     const Tensor& unet_extra, ReferenceControl* reference,
                     const std::vector<NoiseSource*>& noise, Img2ImgResult& result) {
  const Tensor& context = text.context;
  Tensor model_in = plan.cfg ? concat_batch({latents, latents}) : latents;
  model_in = scheduler.scale_model_input(model_in, i);
  const float t = static_cast<float>(scheduler.timestep(i));
  UNetConditioning cond;
  cond.context = context;
  cond.timestep_cond = plan.guidance_embedding;
  cond.text_embeds = text.text_embeds;
  cond.time_ids = text.time_ids;
  cond.image_prompts = plan.image_prompts;
  cond.residuals = control_residuals(req.controls, model_in, t, context, i - window.first, window.count());
  if (reference) {
    throw_if_cancelled(req.cancel);
    result.reference_noised.push_back(reference->write(model, scheduler, i, context, noise));
    cond.hook = reference->read_hook();
  }
  Tensor unet_in = plan.nine ? concat_channels({model_in, unet_extra}) : model_in;
  Tensor pred = model.unet.forward(unet_in, {t}, cond);
  if (!plan.cfg) return pred;
  const float guidance = static_cast<float>(req.cfg_scale);
  const int64_t half = pred.numel() / 2;
  Tensor guided = Tensor::empty(plan.latent_shape);
  const float* u = pred.data<float>();
  const float* c = u + half;
  float* g = guided.data<float>();
  for (int64_t k = 0; k < half; ++k) g[k] = u[k] + guidance * (c[k] - u[k]);
  return guided;
}

}  // namespace

Tensor denoise(const SdModel& model, const Img2ImgRequest& req, const Plan& plan, Scheduler& scheduler,
               const StepWindow& window, const TextConditioning& text, const InitialLatents& init,
               const std::vector<NoiseSource*>& noise, const StepCallback& on_step, Img2ImgResult& result,
               ReferenceControl* reference, const Handoff* handoff) {
  release_free_memory();
  BatchNoise step_noise(noise);  // one generator per image: the scheduler's draws are per image too
  Tensor latents = init.latents;
  for (int i = window.first; i < window.last; ++i) {
    throw_if_cancelled(req.cancel);
    const bool handed = handoff && i >= handoff->from;
    Tensor pred = predict_noise(handed ? *handoff->model : model, req, plan, scheduler, i, window, latents,
                                handed ? handoff->text : text, init.unet_extra, reference, noise, result);
    latents = scheduler.step(pred, i, latents, step_noise);
    log_memory("denoising step");
    if (!all_finite(latents))
      check_finite(latents,
                   "the latents after denoising step " + std::to_string(i - window.first + 1) + " of " +
                       std::to_string(window.count()) + " (" + (handed ? "the refiner's" : "the") +
                       " UNet and the " + scheduler.class_name() + " sampler)",
                   "the UNet's weights, the guidance scale or the scheduler configuration are broken");
    if (plan.blend) {
      // Outside the mask: the init latents at the next step's noise level (unnoised after the last step).
      Tensor keep = i + 1 < window.last ? scheduler.add_noise(init.image_latents, init.start_noise, i + 1)
                                        : init.image_latents;
      latents = blend_masked(latents, keep, result.mask_latents);
    }
    result.step_latents.push_back(latents);
    result.step_timesteps.push_back(scheduler.timestep(i));
    if (on_step && !on_step({i - window.first + 1, window.count(), &latents})) throw Cancelled();
  }
  return latents;
}

Tensor decode_latents(const SdModel& model, const Tensor& latents) {
  check_finite(latents, "the denoised latents", kSuspectModel);
  release_free_memory();
  Tensor z = scale_tensor(latents, 1.0f);
  {
    float* p = z.data<float>();
    const float scale = model.vae_scale();
    for (int64_t k = 0; k < z.numel(); ++k) p[k] = p[k] / scale;
  }
  check_finite(z, "the latents scaled for the VAE", "the VAE's scaling factor is broken");
  Tensor decoded = model.vae.decode_auto(z);
  check_finite(decoded, "the decoded pictures (VAE decoder)", "the VAE's weights are broken");
  float* p = decoded.data<float>();
  for (int64_t k = 0; k < decoded.numel(); ++k) p[k] = std::fmin(1.0f, std::fmax(0.0f, p[k] / 2.0f + 0.5f));
  return decoded;
}

}  // namespace i2i::stages
