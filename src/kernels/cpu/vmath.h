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

// The standard normal CDF Phi(x) = (1 + erf(x / sqrt 2)) / 2, branch-free so that loops calling it
// vectorise, with an absolute error of about 2e-8 (a few float32 ulps of Phi). With a = |x| / sqrt 2:
//   a < 1:      erf is a * P(a^2), P the Taylor series of erf(a) / a to degree 10 in a^2 (error < 2e-9);
//   1 <= a < 4: erfc(a) = exp(-a^2) * C(t), C a degree-11 polynomial in t = (2a - 5) / 3 in [-1, 1],
//               interpolating erfcx(a) = exp(a^2) erfc(a) at Chebyshev nodes (error < 1.3e-8), so the
//               negative tail Phi = erfc(a) / 2 has no cancellation;
//   a >= 4:     erfc(a) < 1.6e-8, taken as 0.
inline float normal_cdf(float x) {
  const float z = x * 0.70710678118654752f;
  const float a = z < 0.0f ? -z : z;
  const float a2 = a * a;
  float p = 1.480719282e-08f;
  p = p * a2 - 1.636584469e-07f;
  p = p * a2 + 1.646211437e-06f;
  p = p * a2 - 1.492565036e-05f;
  p = p * a2 + 1.205533298e-04f;
  p = p * a2 - 8.548327023e-04f;
  p = p * a2 + 5.223977625e-03f;
  p = p * a2 - 2.686617065e-02f;
  p = p * a2 + 1.128379167e-01f;
  p = p * a2 - 3.761263890e-01f;
  p = p * a2 + 1.128379167e+00f;
  const float small = 0.5f + 0.5f * z * p;
  const float t = (2.0f * a - 5.0f) * (1.0f / 3.0f);
  float q = -3.566417882e-05f;
  q = q * t + 9.629120198e-05f;
  q = q * t - 1.474161427e-04f;
  q = q * t + 3.681510978e-04f;
  q = q * t - 1.013662598e-03f;
  q = q * t + 2.425638938e-03f;
  q = q * t - 5.568837645e-03f;
  q = q * t + 1.248412315e-02f;
  q = q * t - 2.700545821e-02f;
  q = q * t + 5.611094756e-02f;
  q = q * t - 1.115210179e-01f;
  q = q * t + 2.108063577e-01f;
  const float half_erfc = a < 4.0f ? 0.5f * exp_approx(-a2) * q : 0.0f;
  const float large = z < 0.0f ? half_erfc : 1.0f - half_erfc;
  return a < 1.0f ? small : large;
}

// Exact (erf) GELU: x * Phi(x).
inline float gelu_erf(float x) {
  return x * normal_cdf(x);
}

inline float sigmoid_approx(float x) {
  return 1.0f / (1.0f + exp_approx(-x));
}

}  // namespace i2i::cpu
