// Sources of Gaussian noise for the samplers. A NoiseSource hands out float32 tensors filled in
// row-major order exactly as torch would fill a tensor of that shape (diffusers' latents are NCHW, so
// callers that keep latents channels-last draw through NchwNoiseForNhwc).
#pragma once

#include <cstddef>
#include <vector>

#include "core/tensor.h"

namespace i2i {

class NoiseSource {
 public:
  virtual ~NoiseSource() = default;
  // Standard normal float32 values, row-major for `shape`.
  virtual Tensor randn(const Shape& shape) = 0;
};

// Plays back a fixed list of tensors in order (tests, `--noise-file` debugging). Throws i2i::Error when the
// requested shape differs from the next tensor's or when the list is exhausted.
class ReplayNoise : public NoiseSource {
 public:
  explicit ReplayNoise(std::vector<Tensor> tensors);
  Tensor randn(const Shape& shape) override;
  size_t consumed() const { return next_; }
  size_t remaining() const { return tensors_.size() - next_; }

 private:
  std::vector<Tensor> tensors_;
  size_t next_ = 0;
};

// Adapter for channels-last callers: randn([N, H, W, C]) draws [N, C, H, W] from `inner` (so the values are
// those torch would give an NCHW latent) and returns them permuted to NHWC. Other ranks pass through.
class NchwNoiseForNhwc : public NoiseSource {
 public:
  explicit NchwNoiseForNhwc(NoiseSource& inner) : inner_(inner) {}
  Tensor randn(const Shape& shape) override;

 private:
  NoiseSource& inner_;
};

}  // namespace i2i
