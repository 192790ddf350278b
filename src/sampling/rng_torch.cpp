#include "sampling/rng_torch.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>

#include "core/error.h"

namespace i2i {

namespace {

constexpr double kPi = 3.14159265358979323846;

// Lane-wise emulation of the cephes-derived log256_ps of avx_mathfun (the polynomial and the range
// reduction of Cephes' logf). PyTorch's AVX2 kernels are compiled with FMA contraction, so each multiply
// whose only use is an add is fused with it (std::fma here); with exactly these fusions every fixture draw
// is reproduced bit for bit (without them about 1 value in 8 differs by up to 3 ulp).
float avx_log(float x) {
  if (!(x > 0.0f)) return std::numeric_limits<float>::quiet_NaN();
  x = std::max(x, std::bit_cast<float>(0x00800000u));  // smallest normal
  uint32_t bits = std::bit_cast<uint32_t>(x);
  int32_t exponent = static_cast<int32_t>(bits >> 23) - 0x7f;
  bits = (bits & ~0x7f800000u) | std::bit_cast<uint32_t>(0.5f);
  x = std::bit_cast<float>(bits);  // mantissa in [0.5, 1)
  float e = static_cast<float>(exponent);
  e = e + 1.0f;
  const bool small = x < 0.707106781186547524f;
  float tmp = small ? x : 0.0f;
  x = x - 1.0f;
  e = e - (small ? 1.0f : 0.0f);
  x = x + tmp;
  float z = x * x;
  float y = 7.0376836292E-2f;
  for (float p : {-1.1514610310E-1f, 1.1676998740E-1f, -1.2420140846E-1f, 1.4249322787E-1f, -1.6668057665E-1f,
                  2.0000714765E-1f, -2.4999993993E-1f, 3.3333331174E-1f})
    y = std::fma(y, x, p);
  y = y * x;
  y = std::fma(y, z, e * -2.12194440e-4f);
  y = std::fma(-z, 0.5f, y);
  x = x + y;
  return std::fma(e, 0.693359375f, x);
}

// Lane-wise emulation of sincos256_ps (Cephes sinf/cosf range reduction and polynomials), fused as above.
void avx_sincos(float x, float* s, float* c) {
  uint32_t sign_sin = std::bit_cast<uint32_t>(x) & 0x80000000u;
  x = std::fabs(x);
  float y = x * 1.27323954473516f;
  int32_t j = static_cast<int32_t>(y);  // truncation (cvttps)
  j = (j + 1) & ~1;
  y = static_cast<float>(j);
  uint32_t swap_sign_sin = (static_cast<uint32_t>(j) & 4u) << 29;
  const bool poly_cos = (j & 2) == 0;  // use the cosine polynomial for cos, the sine one for sin
  x = std::fma(y, -0.78515625f, x);
  x = std::fma(y, -2.4187564849853515625e-4f, x);
  x = std::fma(y, -3.77489497744594108e-8f, x);
  uint32_t sign_cos = (~static_cast<uint32_t>(j - 2) & 4u) << 29;
  sign_sin ^= swap_sign_sin;
  float z = x * x;
  float yc = 2.443315711809948E-005f;
  yc = std::fma(yc, z, -1.388731625493765E-003f);
  yc = std::fma(yc, z, 4.166664568298827E-002f);
  yc = yc * z;
  yc = std::fma(yc, z, -(z * 0.5f));
  yc = yc + 1.0f;
  float ys = -1.9515295891E-4f;
  ys = std::fma(ys, z, 8.3321608736E-3f);
  ys = std::fma(ys, z, -1.6666654611E-1f);
  ys = ys * z;
  ys = std::fma(ys, x, x);
  float sv = poly_cos ? ys : yc;
  float cv = poly_cos ? yc : ys;
  *s = std::bit_cast<float>(std::bit_cast<uint32_t>(sv) ^ sign_sin);
  *c = std::bit_cast<float>(std::bit_cast<uint32_t>(cv) ^ sign_cos);
}

float uniform24(TorchCpuGenerator& g) {
  return static_cast<float>(g.random() & 0xFFFFFFu) * (1.0f / 16777216.0f);
}
double uniform53(TorchCpuGenerator& g) {
  return static_cast<double>(g.random64() & ((uint64_t{1} << 53) - 1)) * (1.0 / 9007199254740992.0);
}

// PyTorch's generic normal_fill_16 for double.
void normal_fill16_f64(double* d) {
  for (int j = 0; j < 8; ++j) {
    const double u1 = 1 - d[j];
    const double u2 = d[j + 8];
    const double radius = std::sqrt(-2 * std::log(u1));
    const double theta = 2.0 * kPi * u2;
    d[j] = radius * std::cos(theta);
    d[j + 8] = radius * std::sin(theta);
  }
}

// PyTorch's generic normal_fill_16 instantiated for c10::Half: every named intermediate is a Half, the
// arithmetic between them runs in float (theta's product in double).
void normal_fill16_f16(float* d) {
  auto h = [](float v) { return f16_to_f32(f32_to_f16(v)); };
  for (int j = 0; j < 8; ++j) {
    const float u1 = h(1.0f - d[j]);
    const float u2 = d[j + 8];
    const float radius = h(std::sqrt(-2.0f * std::log(u1)));
    const float theta = h(static_cast<float>(2.0f * kPi * static_cast<double>(u2)));
    d[j] = h(radius * std::cos(theta));
    d[j + 8] = h(radius * std::sin(theta));
  }
}

}  // namespace

void torch_normal_fill16_avx2(float* data) {
  const float two_pi = static_cast<float>(2.0 * kPi);
  float out[16];
  for (int j = 0; j < 8; ++j) {
    const float u1 = 1.0f - data[j];
    const float u2 = data[j + 8];
    const float radius = std::sqrt(-2.0f * avx_log(u1));
    const float theta = two_pi * u2;
    float s, c;
    avx_sincos(theta, &s, &c);
    out[j] = radius * c;
    out[j + 8] = radius * s;
  }
  std::copy(out, out + 16, data);
}

TorchCpuGenerator::TorchCpuGenerator(uint64_t seed) : engine_(static_cast<uint32_t>(seed & 0xFFFFFFFFu)) {}

double TorchCpuGenerator::next_double_normal() {
  if (cached_normal_) {
    double v = *cached_normal_;
    cached_normal_.reset();
    return v;
  }
  const double u1 = uniform53(*this);
  const double u2 = uniform53(*this);
  const double r = std::sqrt(-2.0 * std::log(1.0 - u2));
  const double theta = 2.0 * kPi * u1;
  cached_normal_ = r * std::sin(theta);
  return r * std::cos(theta);
}

Tensor TorchCpuGenerator::randn(const Shape& shape) {
  Tensor t = Tensor::empty(shape, DType::F32);
  const int64_t n = t.numel();
  float* d = t.data<float>();
  if (n >= 16) {
    for (int64_t i = 0; i < n; ++i) d[i] = uniform24(*this);
    for (int64_t i = 0; i + 16 <= n; i += 16) torch_normal_fill16_avx2(d + i);
    if (n % 16 != 0) {
      float* tail = d + n - 16;
      for (int i = 0; i < 16; ++i) tail[i] = uniform24(*this);
      torch_normal_fill16_avx2(tail);
    }
  } else {
    for (int64_t i = 0; i < n; ++i) d[i] = static_cast<float>(next_double_normal());
  }
  return t;
}

Tensor TorchCpuGenerator::randn_f64(const Shape& shape) {
  Tensor t = Tensor::empty(shape, DType::F64);
  const int64_t n = t.numel();
  double* d = t.data<double>();
  if (n >= 16) {
    for (int64_t i = 0; i < n; ++i) d[i] = uniform53(*this);
    for (int64_t i = 0; i + 16 <= n; i += 16) normal_fill16_f64(d + i);
    if (n % 16 != 0) {
      double* tail = d + n - 16;
      for (int i = 0; i < 16; ++i) tail[i] = uniform53(*this);
      normal_fill16_f64(tail);
    }
  } else {
    for (int64_t i = 0; i < n; ++i) d[i] = next_double_normal();
  }
  return t;
}

Tensor TorchCpuGenerator::randn_f16(const Shape& shape) {
  const int64_t n = shape_numel(shape);
  std::vector<float> v(static_cast<size_t>(n));
  // Half uniforms use 11 mantissa bits of one 32-bit draw.
  auto uniform11 = [this] { return static_cast<float>(random() & 0x7FFu) * (1.0f / 2048.0f); };
  if (n >= 16) {
    for (auto& x : v) x = uniform11();
    for (int64_t i = 0; i + 16 <= n; i += 16) normal_fill16_f16(v.data() + i);
    if (n % 16 != 0) {
      float* tail = v.data() + n - 16;
      for (int i = 0; i < 16; ++i) tail[i] = uniform11();
      normal_fill16_f16(tail);
    }
  } else {
    for (auto& x : v) x = static_cast<float>(next_double_normal());
  }
  Tensor t = Tensor::empty(shape, DType::F16);
  convert_from_f32(v.data(), t.raw(), DType::F16, v.size());
  return t;
}

}  // namespace i2i
