// Small float math helpers written so that GCC vectorises loops calling them (no library calls).
// Internal to the CPU backend.
#pragma once

#include <bit>
#include <cstdint>

namespace i2i::cpu {

// e^x with a relative error of about 2 ulp for x in [-87, 88]; 0 below (where e^x is a denormal or 0,
// including -inf), and e^88 above.
inline float exp_approx(float x) {
  const bool underflow = x < -87.0f;
  x = underflow ? -87.0f : x;
  x = x > 88.0f ? 88.0f : x;
  const float magic = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  float t = x * 1.44269504088896341f + magic;
  float n = t - magic;
  // r = x - n ln2, with ln2 split into a part exact in float and the rest.
  float r = x - n * 0.693145751953125f;
  r = r - n * 1.428606765330187045e-06f;
  // Taylor series of e^r for |r| <= ln2 / 2 to degree 7 (truncation error < 1e-8 relative).
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  int32_t e = (static_cast<int32_t>(n) + 127) << 23;
  float result = p * std::bit_cast<float>(e);
  return underflow ? 0.0f : result;
}

inline float sigmoid_approx(float x) {
  return 1.0f / (1.0f + exp_approx(-x));
}

}  // namespace i2i::cpu
