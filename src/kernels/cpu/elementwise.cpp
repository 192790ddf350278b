// Element-wise activations and data movement. Every output element is computed independently, so the
// results do not depend on the number of threads.
#include <cmath>
#include <cstring>

#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/vmath.h"

namespace i2i::cpu {
namespace {

constexpr int64_t kBlock = 16384;

// Calls fn(begin, end) over [0, n) in blocks, in parallel.
template <typename Fn>
void parallel_blocks(int64_t n, Fn fn) {
  int64_t blocks = (n + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static) if (blocks > 1)
  for (int64_t b = 0; b < blocks; ++b) {
    int64_t begin = b * kBlock;
    int64_t end = begin + kBlock < n ? begin + kBlock : n;
    fn(begin, end);
  }
}

// 0.5 (1 + tanh(u)) == sigmoid(2u): no cancellation for negative x.
inline float gelu_tanh_one(float x) {
  float u = 0.7978845608028654f * (x + 0.044715f * x * x * x);
  return x * sigmoid_approx(2.0f * u);
}

template <Act A>
void act_range(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    float v = x[i];
    if constexpr (A == Act::SiLU) y[i] = v * sigmoid_approx(v);
    if constexpr (A == Act::QuickGELU) y[i] = v * sigmoid_approx(1.702f * v);
    if constexpr (A == Act::GELUTanh) y[i] = gelu_tanh_one(v);
    if constexpr (A == Act::GELU) y[i] = gelu_erf(v);
  }
}

template <Act A>
__attribute__((target("avx2,fma"))) void act_range_avx2(const float* x, float* y, int64_t n) {
  act_range<A>(x, y, n);
}
template <Act A>
__attribute__((target("avx512f,avx512dq,avx512bw,avx512vl"))) void act_range_avx512(const float* x, float* y,
                                                                                    int64_t n) {
  act_range<A>(x, y, n);
}

template <Act A>
void act_dispatch(const float* x, float* y, int64_t n) {
  static const int level = __builtin_cpu_supports("avx512f") ? 2 : __builtin_cpu_supports("avx2") ? 1 : 0;
  if (level == 2)
    act_range_avx512<A>(x, y, n);
  else if (level == 1)
    act_range_avx2<A>(x, y, n);
  else
    act_range<A>(x, y, n);
}

// out[i] = value[i] * gelu(gate[i]).
void geglu_row(const float* value, const float* gate, float* out, int64_t d) {
  for (int64_t i = 0; i < d; ++i) out[i] = value[i] * gelu_erf(gate[i]);
}
__attribute__((target("avx2,fma"))) void geglu_row_avx2(const float* value, const float* gate, float* out,
                                                        int64_t d) {
  geglu_row(value, gate, out, d);
}
__attribute__((target("avx512f,avx512dq,avx512bw,avx512vl"))) void geglu_row_avx512(const float* value,
                                                                                    const float* gate,
                                                                                    float* out, int64_t d) {
  geglu_row(value, gate, out, d);
}

}  // namespace

Tensor activation(const Tensor& x, Act act) {
  Tensor y = Tensor::empty(x.shape());
  const float* xp = x.data<float>();
  float* yp = y.data<float>();
  parallel_blocks(x.numel(), [&](int64_t b, int64_t e) {
    switch (act) {
      case Act::SiLU:
        act_dispatch<Act::SiLU>(xp + b, yp + b, e - b);
        break;
      case Act::GELU:
        act_dispatch<Act::GELU>(xp + b, yp + b, e - b);
        break;
      case Act::GELUTanh:
        act_dispatch<Act::GELUTanh>(xp + b, yp + b, e - b);
        break;
      case Act::QuickGELU:
        act_dispatch<Act::QuickGELU>(xp + b, yp + b, e - b);
        break;
    }
  });
  return y;
}

Tensor geglu(const Tensor& x) {
  int64_t d2 = x.dim(-1), d = d2 / 2, rows = d2 ? x.numel() / d2 : 0;
  Shape shape = x.shape();
  shape.back() = d;
  Tensor y = Tensor::empty(shape);
  const float* xp = x.data<float>();
  float* yp = y.data<float>();
  static const int level = __builtin_cpu_supports("avx512f") ? 2 : __builtin_cpu_supports("avx2") ? 1 : 0;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const float* value = xp + r * d2;
    if (level == 2)
      geglu_row_avx512(value, value + d, yp + r * d, d);
    else if (level == 1)
      geglu_row_avx2(value, value + d, yp + r * d, d);
    else
      geglu_row(value, value + d, yp + r * d, d);
  }
  return y;
}

Tensor upsample_nearest2x(const Tensor& x) {
  int64_t n = x.dim(0), h = x.dim(1), w = x.dim(2), c = x.dim(3);
  Tensor y = Tensor::empty({n, 2 * h, 2 * w, c});
  const float* xp = x.data<float>();
  float* yp = y.data<float>();
  size_t bytes = static_cast<size_t>(c) * sizeof(float);
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t i = 0; i < n; ++i)
    for (int64_t oy = 0; oy < 2 * h; ++oy) {
      const float* src = xp + ((i * h + oy / 2) * w) * c;
      float* dst = yp + ((i * 2 * h + oy) * 2 * w) * c;
      for (int64_t ox = 0; ox < 2 * w; ++ox) std::memcpy(dst + ox * c, src + (ox / 2) * c, bytes);
    }
  return y;
}

Tensor concat_channels(const Tensor& a, const Tensor& b) {
  int64_t ca = a.dim(-1), cb = b.dim(-1);
  Shape shape = a.shape();
  shape.back() = ca + cb;
  Tensor y = Tensor::empty(shape);
  int64_t rows = y.numel() / (ca + cb > 0 ? ca + cb : 1);
  if (ca + cb == 0) return y;
  const float* ap = a.data<float>();
  const float* bp = b.data<float>();
  float* yp = y.data<float>();
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    std::memcpy(yp + r * (ca + cb), ap + r * ca, static_cast<size_t>(ca) * sizeof(float));
    std::memcpy(yp + r * (ca + cb) + ca, bp + r * cb, static_cast<size_t>(cb) * sizeof(float));
  }
  return y;
}

Tensor add(const Tensor& a, const Tensor& b) {
  Tensor y = Tensor::empty(a.shape());
  const float* ap = a.data<float>();
  const float* bp = b.data<float>();
  float* yp = y.data<float>();
  parallel_blocks(a.numel(), [&](int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i) yp[i] = ap[i] + bp[i];
  });
  return y;
}

void add_(Tensor& a, const Tensor& b) {
  float* ap = a.data<float>();
  const float* bp = b.data<float>();
  parallel_blocks(a.numel(), [&](int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i) ap[i] += bp[i];
  });
}

Tensor scale(const Tensor& x, float s) {
  Tensor y = Tensor::empty(x.shape());
  const float* xp = x.data<float>();
  float* yp = y.data<float>();
  parallel_blocks(x.numel(), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) yp[i] = xp[i] * s;
  });
  return y;
}

void scale_(Tensor& x, float s) {
  float* xp = x.data<float>();
  parallel_blocks(x.numel(), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) xp[i] *= s;
  });
}

void add_channel_bias_(Tensor& x, const Tensor& bias) {
  int64_t n = x.dim(0), c = x.dim(-1);
  if (n == 0 || c == 0) return;
  int64_t rows_per_sample = x.numel() / (n * c);
  float* xp = x.data<float>();
  const float* bp = bias.data<float>();
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t i = 0; i < n; ++i)
    for (int64_t r = 0; r < rows_per_sample; ++r) {
      float* row = xp + (i * rows_per_sample + r) * c;
      const float* bi = bp + i * c;
      for (int64_t j = 0; j < c; ++j) row[j] += bi[j];
    }
}

}  // namespace i2i::cpu
