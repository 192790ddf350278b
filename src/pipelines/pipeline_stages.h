// The stages of run_img2img (img2img.h), in the order diffusers' pipelines read: check the request ->
// encode the conditioning (encode_prompt) -> pick the timesteps (get_timesteps) -> initial latents
// (prepare_latents, with the inpainting mask and masked-image latents) -> denoising loop (one guided noise
// prediction per step, ControlNet residuals included) -> decode. Internal to src/pipelines.
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "pipelines/img2img.h"
#include "sampling/scheduler.h"

namespace i2i::stages {

// What a request amounts to once checked.
struct Plan {
  int64_t batch = 1;
  int64_t height = 0, width = 0;  // pixels
  Shape latent_shape;             // [B, h, w, latent channels]
  bool txt2img = false;
  bool cfg = false;  // classifier-free guidance: the UNet batch is [negative x B, positive x B]
  // LCM-distilled UNet (time_cond_proj_dim): the guidance scale goes in as an embedding instead of CFG
  // (diffusers: timestep_cond = get_guidance_scale_embedding(guidance_scale - 1)), [B, dim].
  Tensor guidance_embedding;
  bool nine = false;     // 9-channel inpainting UNet
  bool inpaint = false;  // a mask is in play (always with a 9-channel UNet)
  bool blend = false;    // 4-channel ("legacy") inpainting: latents outside the mask are replaced each step
  LatentFill fill = LatentFill::Original;
  Tensor mask;  // [1, H, W, 1] (an all-white one for a 9-channel UNet without a mask)
  std::vector<ImagePrompt> image_prompts;  // the IP-Adapter units' tokens in the UNet batch's layout
};
// Throws ParameterError / i2i::Error for anything the model cannot run.
Plan check_request(const SdModel& model, const Img2ImgRequest& req, size_t noise_sources);

// Stops the run (throws Cancelled) when the flag is set.
void throw_if_cancelled(const std::atomic<bool>* cancel);

// The UNet's text conditioning for every step, CFG-doubled ([negative x B, positive x B]).
struct TextConditioning {
  Tensor context;      // prompt embeddings [rows, T, D]
  Tensor text_embeds;  // SDXL: pooled embeddings [rows, P]; undefined otherwise
  Tensor time_ids;     // SDXL: size / crop (/ aesthetic score) ids [rows, n]; undefined otherwise
};

// 1. The prompt embeddings (recorded in `result`) and the UNet's text conditioning. SDXL: the pooled
// embeddings and time ids too (diffusers' _get_add_time_ids; see XlConditions).
TextConditioning encode_conditioning(const SdModel& model, const Img2ImgRequest& req, const Plan& plan,
                                     Img2ImgResult& result);

// The SDXL refiner hand-off (A1111's refiner): from step index `from` on, the refiner's UNet with its own
// conditioning denoises the same latents with the same sampler state.
struct Handoff {
  const SdModel* model = nullptr;
  TextConditioning text;
  int from = 0;
};

// 2. The steps to run: indices [first, last) into scheduler.timesteps() (empty for strength 0).
struct StepWindow {
  int first = 0, last = 0;
  int count() const { return last - first; }
};
StepWindow get_timesteps(Scheduler& scheduler, const Img2ImgRequest& req, const Plan& plan);

// The refiner hand-off for `req.refiner` (A1111's switch rule, see Img2ImgRequest::refiner): the refiner's
// conditioning and its first step index; nullopt when no step reaches the switch. Throws ParameterError for a
// refiner that cannot take over this run.
std::optional<Handoff> prepare_handoff(const SdModel& model, const Img2ImgRequest& req, const Plan& plan,
                                       const Scheduler& scheduler, const StepWindow& window);

// 3. The latents entering the loop, drawn in diffusers' order (run_img2img's comment).
struct InitialLatents {
  Tensor latents;        // what the first step sees
  Tensor image_latents;  // the init image's scaled VAE latents (after a latent fill); undefined when unused
  Tensor start_noise;    // the noise added at the start (reused by the legacy inpainting blend)
  Tensor unet_extra;     // 9-channel UNet: mask + masked-image latents, CFG-doubled
};
InitialLatents prepare_latents(const SdModel& model, const Img2ImgRequest& req, const Plan& plan,
                               Scheduler& scheduler, const StepWindow& window,
                               const std::vector<NoiseSource*>& noise, Img2ImgResult& result);

// 4. The denoising loop: returns the final latents; records every step's latents in `result`. With a
// reference, every step runs its write pass first and the noise prediction reads it. With a hand-off, the
// steps from handoff->from on use its model and conditioning.
Tensor denoise(const SdModel& model, const Img2ImgRequest& req, const Plan& plan, Scheduler& scheduler,
               const StepWindow& window, const TextConditioning& text, const InitialLatents& init,
               const std::vector<NoiseSource*>& noise, const StepCallback& on_step, Img2ImgResult& result,
               ReferenceControl* reference = nullptr, const Handoff* handoff = nullptr);

// 5. Latents -> pictures [B, H, W, 3] in [0, 1].
Tensor decode_latents(const SdModel& model, const Tensor& latents);

// Channels-last adapters over the caller's sources (diffusers draws NCHW tensors).
struct NhwcNoise {
  std::vector<std::unique_ptr<NchwNoiseForNhwc>> adapters;
  std::vector<NoiseSource*> sources;
  explicit NhwcNoise(const std::vector<NoiseSource*>& noise);
};

}  // namespace i2i::stages
