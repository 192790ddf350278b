// torch.randn with torch.Generator('cpu').manual_seed(seed) (PyTorch 1.13 CPU semantics, the fixtures'
// README section "rng"): mt19937 engine; tensors of >= 16 values use 24-bit uniforms and a float Box-Muller
// transform in blocks of 16 (the tail block redrawn); smaller tensors use a double Box-Muller whose second
// value is cached in the generator and survives into the next call.
#pragma once

#include <cstdint>
#include <optional>
#include <random>

#include "sampling/noise.h"

namespace i2i {

class TorchCpuGenerator : public NoiseSource {
 public:
  // As torch's manual_seed: the engine is seeded with the low 32 bits.
  explicit TorchCpuGenerator(uint64_t seed);

  // float32 draws (torch.randn(shape)).
  Tensor randn(const Shape& shape) override;
  // torch.randn(shape, dtype=torch.float64): different numbers, not a cast.
  Tensor randn_f64(const Shape& shape);
  // torch.randn(shape, dtype=torch.float16), returned as an F16 tensor.
  Tensor randn_f16(const Shape& shape);

  uint32_t random() { return static_cast<uint32_t>(engine_()); }
  uint64_t random64() {
    uint64_t hi = random();
    return (hi << 32) | random();
  }

 private:
  double next_double_normal();
  std::mt19937 engine_;
  std::optional<double> cached_normal_;
};

// The float Box-Muller transform PyTorch applies on AVX2 machines (log and sincos of avx_mathfun, evaluated
// lane by lane): transforms 16 uniforms in place. Exposed for tests.
void torch_normal_fill16_avx2(float* data);

}  // namespace i2i
