// The VAE's encoder and decoder (diffusers Encoder / Decoder of AutoencoderKL): resnets without time
// embedding, GroupNorm eps 1e-6 everywhere, a mid block with single-head attention over all channels.
#pragma once

#include <optional>
#include <vector>

#include "models/unet_resnet.h"
#include "models/vae_config.h"

namespace i2i {

// Mid-block attention: GroupNorm -> to_q/to_k/to_v -> softmax(q k^T / sqrt(C)) v -> to_out.0, + residual.
class VaeAttention {
 public:
  VaeAttention() = default;
  VaeAttention(const Weights& w, const std::string& prefix, int64_t channels, int groups,
               Precision precision);
  Tensor operator()(const Tensor& x) const;

 private:
  GroupNorm norm_;
  Linear q_, k_, v_, out_;
  float scale_ = 1;
  Precision precision_ = Precision::F32;
};

// resnets.0 -> attentions.0 -> resnets.1 (diffusers UNetMidBlock2D without time embedding).
class VaeMidBlock {
 public:
  VaeMidBlock() = default;
  VaeMidBlock(const Weights& w, const std::string& prefix, int64_t channels, int groups, Precision precision);
  Tensor operator()(const Tensor& x) const;

 private:
  ResnetBlock resnet0_, resnet1_;
  VaeAttention attention_;
};

// A level: resnets, then an optional down- or upsampler.
struct VaeLevel {
  std::vector<ResnetBlock> resnets;
  std::optional<Downsample> down;
  std::optional<Upsample> up;
  Tensor operator()(const Tensor& x) const;
};

class VaeEncoder {
 public:
  VaeEncoder() = default;
  // `prefix` is "encoder." for AutoencoderKL weights.
  VaeEncoder(const Weights& w, const std::string& prefix, const VaeConfig& c, Precision precision);
  // image [N, H, W, in] -> [N, H/2^(levels-1), W/2^(levels-1), 2 * latent] (mean | logvar before quant_conv).
  Tensor operator()(const Tensor& x) const;

 private:
  Conv2d conv_in_, conv_out_;
  std::vector<VaeLevel> levels_;
  VaeMidBlock mid_;
  GroupNorm norm_out_;
};

class VaeDecoder {
 public:
  VaeDecoder() = default;
  VaeDecoder(const Weights& w, const std::string& prefix, const VaeConfig& c, Precision precision);
  // z [N, h, w, latent] (after post_quant_conv) -> [N, h*2^(levels-1), w*2^(levels-1), out].
  Tensor operator()(const Tensor& z) const;

 private:
  Conv2d conv_in_, conv_out_;
  std::vector<VaeLevel> levels_;
  VaeMidBlock mid_;
  GroupNorm norm_out_;
};

}  // namespace i2i
