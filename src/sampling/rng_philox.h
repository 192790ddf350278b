// AUTOMATIC1111's default "GPU" seed mode: torch.randn on CUDA reproduced on the CPU with Philox 4x32-10 and
// a Box-Muller transform (cases/rng_philox.json). Each randn call uses the next counter offset (0, 1, 2,
// ...).
#pragma once

#include <cstdint>

#include "sampling/noise.h"

namespace i2i {

class PhiloxGenerator : public NoiseSource {
 public:
  // The key is the seed's low and high 32 bits.
  explicit PhiloxGenerator(uint64_t seed) : seed_(seed) {}
  Tensor randn(const Shape& shape) override;
  uint64_t offset() const { return offset_; }
  void set_offset(uint64_t offset) { offset_ = offset; }

 private:
  uint64_t seed_;
  uint64_t offset_ = 0;
};

}  // namespace i2i
