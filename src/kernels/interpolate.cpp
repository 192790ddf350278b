#include "kernels/interpolate.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"

namespace i2i::ops {

namespace {

void check_map(const Tensor& x, int64_t out_h, int64_t out_w, const char* what) {
  check(x.dtype() == DType::F32 && x.ndim() == 4 && x.numel() > 0 && out_h > 0 && out_w > 0,
        std::string(what) + ": expected a float32 [N, H, W, C] map and a positive size, got " +
            std::string(dtype_name(x.dtype())) + " " + shape_str(x.shape()));
}

struct Taps {
  std::vector<int64_t> index;  // `n` per output position
  std::vector<float> weight;
};

// compute_indices_weights_linear: i0 = trunc(src), i1 = i0 + (i0 < in - 1), lambda1 = src - i0.
Taps linear_taps(int64_t in, int64_t out, bool align_corners) {
  Taps t;
  const float scale = align_corners
                          ? (out > 1 ? static_cast<float>(in - 1) / static_cast<float>(out - 1) : 0.f)
                          : static_cast<float>(in) / static_cast<float>(out);
  for (int64_t i = 0; i < out; ++i) {
    float src;
    if (align_corners) {
      src = scale * static_cast<float>(i);
    } else {
      src = static_cast<float>(scale * (i + 0.5) - 0.5);
      if (src < 0) src = 0;
    }
    const int64_t i0 = static_cast<int64_t>(src);
    const int64_t i1 = i0 + (i0 < in - 1 ? 1 : 0);
    const float l1 = src - static_cast<float>(i0);
    const float l0 = 1.f - l1;
    t.index.insert(t.index.end(), {i0, i1});
    t.weight.insert(t.weight.end(), {l0, l1});
  }
  return t;
}

float cubic1(float x, float a) {
  return ((a + 2) * x - (a + 3)) * x * x + 1;
}
float cubic2(float x, float a) {
  return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
}

// HelperInterpCubic: src = (1 / scale) * (dst + 0.5) - 0.5, i = floor(src), taps i - 1 .. i + 2 clamped.
Taps cubic_taps(int64_t in, int64_t out, double scale_factor) {
  Taps t;
  const float scale = static_cast<float>(1.0 / scale_factor);
  const float a = -0.75f;
  for (int64_t i = 0; i < out; ++i) {
    const float src = static_cast<float>(scale * (i + 0.5) - 0.5);
    const int64_t i0 = static_cast<int64_t>(std::floor(src));
    const float x1 = src - static_cast<float>(i0);
    const float x2 = 1.f - x1;
    const float w[4] = {cubic2(x1 + 1.f, a), cubic1(x1, a), cubic1(x2, a), cubic2(x2 + 1.f, a)};
    for (int j = 0; j < 4; ++j) {
      t.index.push_back(std::clamp<int64_t>(i0 - 1 + j, 0, in - 1));
      t.weight.push_back(w[j]);
    }
  }
  return t;
}

// FMA contraction is off in the pixel loops (GCC contracts a * b + c in C++ by default; the AVX-512 clone
// would then round differently from the baseline one and from PyTorch's separate multiply and add), so
// both clones give the same bits.
#define I2I_CLONES __attribute__((target_clones("avx512f", "default"), optimize("fp-contract=off")))

// One output pixel, all channels at once (channels innermost, so the loops are vector loops):
//   d[c] = sum_j wy[j] * (sum_i wx[i] * rows[j][ix[i] * C + c]),
// each sum left to right starting from its first term (PyTorch's Interpolate<2, ...>), so every channel
// gets exactly the arithmetic of the per-channel loop.
template <int kTaps>
inline __attribute__((always_inline)) void pixel(const float* const* rows, const int64_t* ix, const float* wx,
                                                 const float* wy, int64_t c, float* d) {
  for (int j = 0; j < kTaps; ++j) {
    const float* p[kTaps];
    for (int i = 0; i < kTaps; ++i) p[i] = rows[j] + ix[i] * c;
    const float w = wy[j];
    if (j == 0) {
      for (int64_t ch = 0; ch < c; ++ch) {
        float inner = p[0][ch] * wx[0];
        for (int i = 1; i < kTaps; ++i) inner = inner + p[i][ch] * wx[i];
        d[ch] = inner * w;
      }
    } else {
      for (int64_t ch = 0; ch < c; ++ch) {
        float inner = p[0][ch] * wx[0];
        for (int i = 1; i < kTaps; ++i) inner = inner + p[i][ch] * wx[i];
        d[ch] = d[ch] + inner * w;
      }
    }
  }
}

// A row of output pixels (x from 0 to out_w) for 2 (bilinear) or 4 (bicubic) taps a direction.
I2I_CLONES void pixel_row2(const float* const* rows, const int64_t* ix, const float* wx, const float* wy,
                           int64_t c, int64_t out_w, float* d) {
  for (int64_t ox = 0; ox < out_w; ++ox) pixel<2>(rows, ix + 2 * ox, wx + 2 * ox, wy, c, d + ox * c);
}
I2I_CLONES void pixel_row4(const float* const* rows, const int64_t* ix, const float* wx, const float* wy,
                           int64_t c, int64_t out_w, float* d) {
  for (int64_t ox = 0; ox < out_w; ++ox) pixel<4>(rows, ix + 4 * ox, wx + 4 * ox, wy, c, d + ox * c);
}

I2I_CLONES void round_row_bf16(const float* src, uint16_t* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = f32_to_bf16(src[i]);
}

// out[n, y, x, c] = sum_j wy_j * (sum_i wx_i * in[n, iy_j, ix_i, c]); `out` F32, or BF16 (each value
// computed in float32, then rounded to nearest even).
template <int kTaps>
Tensor separable(const Tensor& x, int64_t out_h, int64_t out_w, const Taps& ty, const Taps& tx, DType out) {
  const int64_t n = x.dim(0), h = x.dim(1), w = x.dim(2), c = x.dim(3);
  const bool bf16 = out == DType::BF16;
  Tensor y = Tensor::empty({n, out_h, out_w, c}, bf16 ? DType::BF16 : DType::F32);
  const float* src = x.data<float>();
  // Each thread's bf16 staging line, allocated here: an allocation failing inside the parallel region would
  // end the program instead of reaching the caller.
  const bool parallel = out_h * out_w * c > 65536;
  std::vector<std::vector<float>> lines(static_cast<size_t>(parallel ? omp_get_max_threads() : 1));
  if (bf16)
    for (auto& l : lines) l.resize(static_cast<size_t>(out_w * c));
#pragma omp parallel if (parallel)
  {
    std::vector<float>& line = lines[static_cast<size_t>(omp_get_thread_num())];
#pragma omp for schedule(static)
    for (int64_t row = 0; row < n * out_h; ++row) {
      const int64_t b = row / out_h, oy = row % out_h;
      const float* img = src + b * h * w * c;
      const float* rows[kTaps];
      for (int j = 0; j < kTaps; ++j) rows[j] = img + ty.index[static_cast<size_t>(oy * kTaps + j)] * w * c;
      const float* wy = ty.weight.data() + oy * kTaps;
      float* d = bf16 ? line.data() : y.data<float>() + row * out_w * c;
      if constexpr (kTaps == 2)
        pixel_row2(rows, tx.index.data(), tx.weight.data(), wy, c, out_w, d);
      else
        pixel_row4(rows, tx.index.data(), tx.weight.data(), wy, c, out_w, d);
      if (bf16) round_row_bf16(line.data(), y.data<uint16_t>() + row * out_w * c, out_w * c);
    }
  }
  return y;
}

}  // namespace

Tensor interpolate_bilinear(const Tensor& x, int64_t out_h, int64_t out_w, bool align_corners, DType out) {
  check_map(x, out_h, out_w, "interpolate_bilinear");
  check(out == DType::F32 || out == DType::BF16, "interpolate_bilinear: output must be float32 or bf16");
  return separable<2>(x, out_h, out_w, linear_taps(x.dim(1), out_h, align_corners),
                      linear_taps(x.dim(2), out_w, align_corners), out);
}

Tensor interpolate_bicubic(const Tensor& x, int64_t out_h, int64_t out_w, double scale_h, double scale_w) {
  check_map(x, out_h, out_w, "interpolate_bicubic");
  check(scale_h > 0 && scale_w > 0, "interpolate_bicubic: scale factors must be positive");
  return separable<4>(x, out_h, out_w, cubic_taps(x.dim(1), out_h, scale_h),
                      cubic_taps(x.dim(2), out_w, scale_w), DType::F32);
}

}  // namespace i2i::ops
