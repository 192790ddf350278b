// Reference-only conditioning: AUTOMATIC1111 ControlNet's preprocessor-only modes "reference_only",
// "reference_adain" and "reference_adain+attn", as diffusers 0.27.2's community pipeline
// examples/community/stable_diffusion_reference.py (StableDiffusionReferencePipeline) computes them.
// Contract, per denoising step i (B pictures, the CFG batch [negative x B, positive x B]):
// - the reference's scaled VAE latents (one posterior sample) are noised to step i with a fresh draw
//   [B, 4, h, w] (scheduler.add_noise), CFG-doubled and scaled (scale_model_input); a "write" UNet pass on
//   them with the same timestep and prompt embeddings, its output discarded, stores per sample the
//   self-attention inputs norm1(h) of the selected transformer blocks (attn) and the per-channel mean and
//   population variance of the selected block layers' outputs (adain);
// - the "read" pass on the real latents is the step's noise prediction: a selected self-attention takes its
//   keys and values from concat(norm1(h), stored) along the tokens (uc); a selected layer output x becomes
//   x_uc = (x - mean) / std * std_ref + mean_ref with std = sqrt(max(var, 1e-6)). Both are mixed as
//   style_fidelity * c + (1 - style_fidelity) * uc, where c = uc except in the unconditional (negative) half
//   of a CFG batch, which keeps the plain value.
// Layers (the community pipeline's "auto machine weights"): transformer blocks sorted by width, widest
// first (a stable sort of diffusers' module order: down blocks, up blocks, mid block), block i of N is used
// when attn_weight > i / N; block layers get gn weights mid 0, down block w 2 (1 - w / n), up block w
// 2 w / n and are used when adain_weight >= that.
// Without CFG (guidance <= 1) the community pipeline fails; i2i then applies the plain reference (c = uc,
// every sample takes the reference), which is what its formulas give with no unconditional half.
// Noise (one order for every front end): the pipeline's own draws first (txt2img: the start noise; img2img
// and inpainting: all of plain img2img's draws before the loop), then the reference's VAE posterior sample
// [B, 4, h, w], then in every step the reference noise [B, 4, h, w] before the scheduler's own draw.
// ControlNet residuals go into the read pass only (diffusers' stable_diffusion_controlnet_reference.py). A
// 9-channel inpainting UNet gets, in the write pass, a zero mask and the reference's clean latents as its
// masked-image channels (AUTOMATIC1111 ControlNet's inpaint handling of reference units).
// Cost: one extra UNet pass per step (none when no layer is selected; the noise is drawn all the same).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "models/unet.h"
#include "pipelines/sd_model.h"
#include "sampling/noise.h"
#include "sampling/scheduler.h"

namespace i2i {

enum class ReferenceMode {
  Attn,       // "reference_only": self-attention on the reference (diffusers reference_attn)
  Adain,      // "reference_adain": AdaIN of block outputs (diffusers reference_adain)
  AdainAttn,  // "reference_adain+attn": both
};
// A1111's module names.
std::string reference_mode_name(ReferenceMode mode);
// "reference_only" / "reference_adain" / "reference_adain+attn"; ParameterError naming {reference_mode}.
ReferenceMode parse_reference_mode(const std::string& name);

// One reference unit at tensor level (the picture already at the generation size).
struct ReferenceUnit {
  Tensor image;  // [1, H, W, 3] in [-1, 1] at the generation size (image_to_tensor of the resized picture)
  ReferenceMode mode = ReferenceMode::Attn;
  double style_fidelity = 0.5;  // in [0, 1]
  double attn_weight = 1.0;     // attention_auto_machine_weight, >= 0
  double adain_weight = 1.0;    // gn_auto_machine_weight, >= 0
};

// Throws ParameterError ({style_fidelity}, {reference_attn_weight}, {reference_adain_weight}) for values out
// of range, i2i::Error for an image that is not [1, height, width, 3].
void validate_reference_unit(const ReferenceUnit& unit, int64_t height, int64_t width);

// The layers a unit uses in `unet`: attn1 names ("down_blocks.2.attentions.0.transformer_blocks.0.attn1")
// and block layer names as UNetHook::block_output sees them ("down_blocks.2.attentions.1", "mid_block").
struct ReferenceLayers {
  std::vector<std::string> attention;
  std::vector<std::string> adain;
};
ReferenceLayers reference_layers(const UNet2DCondition& unet, const ReferenceUnit& unit);

// The per-run state: the reference latents and the hook the two passes share.
class ReferenceControl {
 public:
  // Draws the reference's VAE posterior sample ([B, 4, h, w]: one draw from a single source, one [1, ...]
  // per image from per-image sources) from `noise` (channels-last sources). `cfg`: the UNet batch is
  // [negative x B, positive x B].
  ReferenceControl(const SdModel& model, const ReferenceUnit& unit, int64_t batch, bool cfg,
                   const std::vector<NoiseSource*>& noise);
  ~ReferenceControl();
  ReferenceControl(const ReferenceControl&) = delete;
  ReferenceControl& operator=(const ReferenceControl&) = delete;

  // The write pass of step `step_index`: draws the step's reference noise, noises the reference to the
  // step's level and runs the UNet on it (`context`: the CFG-doubled prompt embeddings). Returns the noised
  // reference latents [B, h, w, 4] before CFG doubling and scaling (what scheduler.add_noise gave).
  Tensor write(const SdModel& model, Scheduler& scheduler, int step_index, const Tensor& context,
               const std::vector<NoiseSource*>& noise);
  // The hook for the read pass (valid after write() for the same step), or nullptr when no layer is used.
  UNetHook* read_hook();

  const Tensor& latents() const { return latents_; }  // [B, h, w, 4] scaled VAE latents of the reference
  const ReferenceLayers& layers() const { return layers_; }

  class Hook;

 private:
  Tensor latents_;
  int64_t batch_ = 1;
  bool cfg_ = false;
  bool nine_ = false;  // 9-channel inpainting UNet
  ReferenceLayers layers_;
  std::unique_ptr<Hook> hook_;
};

}  // namespace i2i
