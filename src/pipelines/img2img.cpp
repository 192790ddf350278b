#include "pipelines/img2img.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "core/error.h"
#include "core/memory.h"
#include "pipelines/infotext.h"
#include "pipelines/pipeline_stages.h"
#include "sampling/scheduler.h"

namespace i2i {
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

void check_denoising_steps(int steps, double strength) {
  const auto runs = [&](int n) { return std::min(static_cast<int>(n * strength), n); };
  if (!(strength > 0) || runs(steps) > 0) return;
  // The fewest steps that leave one at this strength (about 1 / strength; int() truncates the product).
  int need = static_cast<int>(std::min(std::ceil(1.0 / strength), 2000.0));
  while (need <= 1000 && runs(need) == 0) ++need;
  const std::string hint = need <= 1000 ? "raise {steps} or {strength} (at least " + std::to_string(need) +
                                              " {steps} at this {strength})"
                                        : "raise {strength}";
  char product[32];
  std::snprintf(product, sizeof product, "%.4g", steps * strength);  // 3 x 0.3 = 0.9, not 0.8999999999999999
  throw ParameterError("{steps} " + std::to_string(steps) + " x {strength} " + format_number(strength) +
                       " = " + product +
                       " is below 1: img2img runs int(steps x strength) steps, so none would run; " + hint);
}

Img2ImgResult run_img2img(const SdModel& model, const Img2ImgRequest& req,
                          const std::vector<NoiseSource*>& noise_in, const StepCallback& on_step) {
  const stages::Plan plan = stages::check_request(model, req, noise_in.size());
  const stages::NhwcNoise noise(noise_in);  // latents are channels-last; diffusers draws NCHW tensors
  Img2ImgResult result;
  const stages::TextConditioning text = stages::encode_conditioning(model, req, plan, result);
  log_memory("encoded the prompts");
  if (req.text_encoders_done) req.text_encoders_done(model);
  SchedulerConfig sc = SchedulerConfig::from_json(model.scheduler_config, "the model's scheduler config");
  std::unique_ptr<Scheduler> scheduler = make_scheduler(req.sampler, sc, req.schedule);
  const stages::StepWindow window = stages::get_timesteps(*scheduler, req, plan);
  // (The refiner's prompts are encoded before the VAE runs, so that its text encoder can go first.)
  std::optional<stages::Handoff> handoff;
  if (req.refiner && window.count() > 0) {
    stages::throw_if_cancelled(req.cancel);
    handoff = stages::prepare_handoff(model, req, plan, *scheduler, window);
    if (handoff && req.text_encoders_done) req.text_encoders_done(*req.refiner);
  }
  const stages::InitialLatents init =
      stages::prepare_latents(model, req, plan, *scheduler, window, noise.sources, result);
  result.initial_latents = init.latents;
  log_memory("prepared the initial latents (VAE encode)");
  std::optional<ReferenceControl> reference;
  if (req.reference && window.count() > 0) {
    stages::throw_if_cancelled(req.cancel);
    reference.emplace(model, *req.reference, plan.batch, plan.cfg, noise.sources);
    result.reference_latents = reference->latents();
  }
  result.latents = stages::denoise(model, req, plan, *scheduler, window, text, init, noise.sources, on_step,
                                   result, reference ? &*reference : nullptr, handoff ? &*handoff : nullptr);
  if (handoff) result.refiner_first_step = handoff->from - window.first;
  stages::throw_if_cancelled(req.cancel);
  // A1111 decodes with the model loaded last: the refiner's VAE once it took over.
  result.images = stages::decode_latents(handoff ? *handoff->model : model, result.latents);
  log_memory("decoded the latents");
  return result;
}

}  // namespace i2i
