#include "tools/bench_turbo.h"

#include <optional>

#include "models/clip_text_config.h"
#include "models/ldm_keys.h"
#include "models/openclip_text_keys.h"
#include "models/unet_config.h"
#include "models/vae_config.h"
#include "sampling/rng_torch.h"
#include "tools/flops.h"

namespace i2i::bench {

SdModel random_sd2_model(const SdShape& shape, Precision precision, uint64_t seed) {
  SdModel m;
  m.precision = precision;
  m.checkpoint.family = ModelFamily::SD2;
  m.scheduler_config = sd15_scheduler_config();  // SD 2.x has SD 1.5's betas; SD-Turbo predicts epsilon
  m.scheduler_config["prediction_type"] = "epsilon";
  {
    const Weights ck = random_checkpoint_weights(shape, DType::F16, seed, {"model.diffusion_model."});
    const Weights w = unet_weights_from_ldm(ck);
    m.unet = UNet2DCondition(w, infer_unet_config(w), precision);
  }
  {
    // SD 2.x conditions on the penultimate block's output: the last of the 24 stored blocks does not run.
    const Weights ck = random_checkpoint_weights(shape, DType::F16, seed, {"cond_stage_model.model."});
    const Weights stored = ck.sub("cond_stage_model.model.");
    const int used = count_openclip_blocks(stored) - 1;
    const Weights hf = openclip_text_to_hf(stored, used, false);
    m.text_encoder = ClipTextEncoder(
        hf, infer_clip_text_config(hf, nullptr, ClipActivation::Gelu, false, used), precision);
  }
  {
    const Weights ck = random_checkpoint_weights(shape, DType::F16, seed, {"first_stage_model."});
    const Weights w = vae_weights_from_ldm(ck);
    m.vae = AutoencoderKL(w, infer_vae_config(w), precision);
  }
  return m;
}

double turbo_img2img_flops(const SdModel& m, int64_t side, int64_t tokens) {
  const int64_t latent = side / 8;
  return clip_text_flops(m.text_encoder.config(), 1, tokens) +
         vae_encode_flops(m.vae.config(), 1, side, side) +
         unet_forward_flops(m.unet.config(), 1, latent, latent, tokens) +
         vae_decode_flops(m.vae.config(), 1, latent, latent);
}

Img2ImgResult run_turbo_img2img(const SdModel& m, const Tensor& ids, const Tensor& image, uint64_t seed) {
  Img2ImgRequest req;
  req.init_image = image;
  req.prompt_embeds = m.text_encoder.forward(ids).last_hidden_state;
  req.strength = kTurboStrength;
  req.steps = kTurboSteps;
  req.cfg_scale = 0;
  req.sampler = "Euler a";
  req.schedule = "trailing";
  TorchCpuGenerator gen(seed);
  return run_img2img(m, req, {&gen});
}

}  // namespace i2i::bench
