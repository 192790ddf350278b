#include "sampling/rng_philox.h"

#include <array>
#include <cmath>

namespace i2i {

namespace {

std::array<uint32_t, 4> philox4x32_10(std::array<uint32_t, 4> c, uint32_t k0, uint32_t k1) {
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      k0 += 0x9E3779B9u;
      k1 += 0xBB67AE85u;
    }
    const uint64_t p0 = static_cast<uint64_t>(0xD2511F53u) * c[0];
    const uint64_t p1 = static_cast<uint64_t>(0xCD9E8D57u) * c[2];
    c = {static_cast<uint32_t>(p1 >> 32) ^ c[1] ^ k0, static_cast<uint32_t>(p1),
         static_cast<uint32_t>(p0 >> 32) ^ c[3] ^ k1, static_cast<uint32_t>(p0)};
  }
  return c;
}

}  // namespace

Tensor PhiloxGenerator::randn(const Shape& shape) {
  Tensor t = Tensor::empty(shape, DType::F32);
  float* d = t.data<float>();
  const int64_t n = t.numel();
  const uint32_t k0 = static_cast<uint32_t>(seed_), k1 = static_cast<uint32_t>(seed_ >> 32);
  const float two_pow32_inv = 2.3283064e-10f;  // 2^-32
  const float two_pow32_inv_2pi = static_cast<float>(2.3283064365386963e-10 * 2.0 * 3.14159265358979323846);
  for (int64_t i = 0; i < n; ++i) {
    auto x = philox4x32_10({static_cast<uint32_t>(offset_), 0u, static_cast<uint32_t>(i), 0u}, k0, k1);
    const float u = static_cast<float>(x[0]) * two_pow32_inv + two_pow32_inv / 2;
    const float v = static_cast<float>(x[1]) * two_pow32_inv_2pi + two_pow32_inv_2pi / 2;
    d[i] = std::sqrt(-2.0f * std::log(u)) * std::sin(v);
  }
  ++offset_;
  return t;
}

}  // namespace i2i
