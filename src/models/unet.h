// UNet2DCondition: the Stable Diffusion 1.x / 2.x denoising UNet (diffusers UNet2DConditionModel), NHWC
// end to end, built from diffusers-named Weights (see unet_load.h for loading files).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "models/unet_blocks.h"
#include "models/unet_config.h"
#include "models/unet_time.h"

namespace i2i {

// ControlNet outputs added inside the UNet (diffusers down_block_additional_residuals /
// mid_block_additional_residual), NHWC, already multiplied by the conditioning scale: one tensor per skip
// connection (12 for the SD 1.x structure) in creation order, and the mid-block residual.
struct UNetResiduals {
  std::vector<Tensor> down;
  Tensor mid;
};

// Outputs of the named submodules (diffusers names: time_proj, time_embedding, conv_in, down_blocks.i,
// down_blocks.i.res_samples.j, mid_block, up_blocks.i, conv_norm_out, conv_out); images NHWC.
using UNetIntermediates = std::map<std::string, Tensor>;

class UNet2DCondition {
 public:
  UNet2DCondition() = default;
  // Builds every layer from `w` (diffusers names), checking each tensor's shape against `config`.
  UNet2DCondition(const Weights& w, const UNetConfig& config, Precision precision = Precision::F32);

  // sample [B, h, w, in_channels] NHWC; timesteps: one per sample, or a single one for all;
  // context [B, S, cross_attention_dim]. Returns [B, h, w, out_channels].
  Tensor forward(const Tensor& sample, const std::vector<float>& timesteps, const Tensor& context,
                 const UNetResiduals* residuals = nullptr, UNetIntermediates* intermediates = nullptr) const;

  const UNetConfig& config() const { return config_; }
  // Shapes (NHWC) of the skip connections for a latent of h x w: what a ControlNet must produce.
  std::vector<Shape> skip_shapes(int64_t batch, int64_t h, int64_t w) const;

 private:
  UNetConfig config_;
  Conv2d conv_in_, conv_out_;
  TimestepMlp time_mlp_;
  std::vector<UNetDownBlock> down_;
  UNetMidBlock mid_;
  std::vector<UNetUpBlock> up_;
  GroupNorm norm_out_;
  std::vector<int64_t> skip_channels_;
};

}  // namespace i2i
