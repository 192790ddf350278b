// UNet2DCondition: the Stable Diffusion 1.x / 2.x / SDXL denoising UNet (diffusers UNet2DConditionModel),
// NHWC end to end, built from diffusers-named Weights (see unet_load.h for loading files). Its conditioning
// (prompt embedding, SDXL's pooled text and time ids, ControlNet residuals, hooks, ...) comes as one
// UNetConditioning (unet_conditioning.h).
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "models/unet_blocks.h"
#include "models/unet_conditioning.h"
#include "models/unet_config.h"
#include "models/unet_time.h"

namespace i2i {

// Outputs of the named submodules (diffusers names: time_proj, time_embedding, SDXL's add_time_proj
// [B * ids, dim] and add_embedding, conv_in, down_blocks.i, down_blocks.i.res_samples.j, mid_block,
// up_blocks.i, conv_norm_out, conv_out); images NHWC.
using UNetIntermediates = std::map<std::string, Tensor>;

class UNet2DCondition {
 public:
  UNet2DCondition() = default;
  // Builds every layer from `w` (diffusers names), checking each tensor's shape against `config`.
  UNet2DCondition(const Weights& w, const UNetConfig& config, Precision precision = Precision::F32);

  // sample [B, h, w, in_channels] NHWC; timesteps: one per sample, or a single one for all;
  // cond.context [B, S, cross_attention_dim] and the optional conditioning (unet_conditioning.h); a field
  // this UNet has no layers for is an i2i::Error, and so are missing SDXL added conditions (text_embeds
  // [B, P] and time_ids [B, n] with P + n * addition_time_embed_dim = the add_embedding width) for a UNet
  // that has them. Returns [B, h, w, out_channels].
  Tensor forward(const Tensor& sample, const std::vector<float>& timesteps, const UNetConditioning& cond,
                 UNetIntermediates* intermediates = nullptr) const;
  // The same with a bundle of `context` and, when given, `residuals`.
  Tensor forward(const Tensor& sample, const std::vector<float>& timesteps, const Tensor& context,
                 const UNetResiduals* residuals = nullptr, UNetIntermediates* intermediates = nullptr) const;

  const UNetConfig& config() const { return config_; }
  // Shapes (NHWC) of the skip connections for a latent of h x w: what a ControlNet must produce.
  std::vector<Shape> skip_shapes(int64_t batch, int64_t h, int64_t w) const;
  // The BasicTransformerBlocks in forward order (down blocks, mid block, up blocks), by diffusers name
  // ("down_blocks.0.attentions.0.transformer_blocks.0"): the order of ImagePrompt::layer_scales.
  const std::vector<std::string>& transformer_block_names() const { return block_names_; }
  // Their widths (channels), in the same order.
  const std::vector<int64_t>& transformer_block_widths() const { return block_widths_; }

 private:
  void check_inputs(const Tensor& sample, const std::vector<float>& timesteps,
                    const UNetConditioning& cond) const;
  void check_image_prompts(const std::vector<ImagePrompt>& prompts, int64_t batch) const;
  void check_added_conditions(const UNetConditioning& cond, int64_t batch) const;
  // SDXL: add_embedding(concat(text_embeds, add_time_proj(time_ids) flattened per sample)) [B,
  // time_embed_dim].
  Tensor added_embedding(const UNetConditioning& cond, UNetIntermediates* intermediates) const;
  // Calls f(block) for every BasicTransformerBlock in forward order.
  void for_each_transformer_block(const std::function<void(const BasicTransformerBlock&)>& f) const;

  UNetConfig config_;
  Conv2d conv_in_, conv_out_;
  TimestepMlp time_mlp_;
  TimestepMlp add_embedding_;  // SDXL only (UNetConfig::has_text_time)
  std::vector<UNetDownBlock> down_;
  UNetMidBlock mid_;
  std::vector<UNetUpBlock> up_;
  GroupNorm norm_out_;
  std::vector<int64_t> skip_channels_;
  std::vector<std::string> block_names_;
  std::vector<int64_t> block_widths_;
};

}  // namespace i2i
