// Small tensor helpers the denoising loop shares: batch stacking, per-image noise draws, channel
// concatenation (the 9-channel inpainting UNet input) and masked blending of NHWC latents.
#pragma once

#include <vector>

#include "core/tensor.h"
#include "sampling/noise.h"

namespace i2i {

// Stacks tensors of shape [n_i, ...] along the first dimension.
Tensor concat_batch(const std::vector<Tensor>& parts);
// `x` ([1, ...] or [n, ...]) repeated `times` times along the first dimension.
Tensor repeat_batch(const Tensor& x, int64_t times);
// Draws [B, ...]: all of it from one source (diffusers' single generator), or [1, ...] from each of B
// per-image sources in turn (AUTOMATIC1111's seed, seed + 1, ...).
Tensor draw_batch(const std::vector<NoiseSource*>& noise, const Shape& shape);
// A NoiseSource that draws through draw_batch (what the schedulers get).
class BatchNoise : public NoiseSource {
 public:
  explicit BatchNoise(const std::vector<NoiseSource*>& sources) : sources_(sources) {}
  Tensor randn(const Shape& shape) override { return draw_batch(sources_, shape); }

 private:
  const std::vector<NoiseSource*>& sources_;
};

// NHWC tensors with the same N, H, W concatenated along channels, in order. A part with batch 1 is used
// for every sample when the others have batch N.
Tensor concat_channels(const std::vector<Tensor>& parts);
// mask [1, h, w, 1] in {0, 1}: (1 - m) * keep + m * x per element (x and keep [B, h, w, C]).
Tensor blend_masked(const Tensor& x, const Tensor& keep, const Tensor& mask);
// a + b element-wise (same shapes).
Tensor add_tensors(const Tensor& a, const Tensor& b);
// x * s element-wise.
Tensor scale_tensor(const Tensor& x, float s);

}  // namespace i2i
