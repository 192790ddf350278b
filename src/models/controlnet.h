// ControlNet (diffusers ControlNetModel) for Stable Diffusion 1.x / 2.x, NHWC end to end: a copy of the
// UNet's encoder (time embedding, conv_in, down blocks, mid block) whose input is the latent plus an
// embedding of the control image, and a 1x1 "zero convolution" per skip connection and for the mid block. Its
// outputs are the residuals UNet2DCondition::forward adds to its skips and mid block. See controlnet_load.h
// for loading files.
#pragma once

#include <string>
#include <vector>

#include "models/controlnet_config.h"
#include "models/unet.h"

namespace i2i {

class ControlNet {
 public:
  ControlNet() = default;
  // Builds every layer from `w` (diffusers names), checking each tensor's shape against `config`.
  ControlNet(const Weights& w, const ControlNetConfig& config, Precision precision = Precision::F32);

  // sample [B, h, w, in_channels] NHWC (the latent as the UNet gets it, without an inpainting UNet's extra
  // channels); timesteps: one per sample, or one for all; cond.context [B, S, cross_attention_dim] (the
  // other fields: see unet_conditioning.h; residuals, image prompt and hook are the UNet's, not used here);
  // control [B or 1, h * d, w * d, conditioning_channels] NHWC in [0, 1] where d = config().downscale()
  // (a batch of 1 is used for every sample). Returns the skip residuals (one per UNet skip connection, in
  // creation order) and the mid-block residual, each multiplied by `conditioning_scale`.
  UNetResiduals forward(const Tensor& sample, const std::vector<float>& timesteps,
                        const UNetConditioning& cond, const Tensor& control,
                        float conditioning_scale = 1.f) const;
  // The same with a bundle of `context` alone.
  UNetResiduals forward(const Tensor& sample, const std::vector<float>& timesteps, const Tensor& context,
                        const Tensor& control, float conditioning_scale = 1.f) const;

  const ControlNetConfig& config() const { return config_; }

 private:
  Tensor embed_condition(const Tensor& control) const;

  ControlNetConfig config_;
  TimestepMlp time_mlp_;
  Conv2d conv_in_;
  Conv2d cond_in_, cond_out_;
  std::vector<Conv2d> cond_blocks_;
  std::vector<UNetDownBlock> down_;
  UNetMidBlock mid_;
  std::vector<Conv2d> zero_convs_;
  Conv2d mid_zero_conv_;
};

// Checks that a ControlNet can steer a UNet: the same cross-attention (prompt embedding) width, the same
// levels, block widths and resnets per level (so its residuals fit the UNet's skips). Throws an
// i2i::Error naming both files (`controlnet_name`, `unet_name`) and the model families the widths point to
// (768: SD 1.x, 1024: SD 2.x, 2048: SDXL) otherwise.
void check_controlnet_matches(const ControlNetConfig& controlnet, const UNetConfig& unet,
                              const std::string& controlnet_name, const std::string& unet_name);

}  // namespace i2i
