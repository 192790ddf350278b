#include "kernels/interpolate.h"

#include <algorithm>
#include <cmath>
#include <vector>

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

// out[n, y, x, c] = sum_j wy_j * (sum_i wx_i * in[n, iy_j, ix_i, c]), left to right (PyTorch's
// Interpolate<2, ...>).
Tensor separable(const Tensor& x, int64_t out_h, int64_t out_w, const Taps& ty, const Taps& tx, int taps) {
  const int64_t n = x.dim(0), h = x.dim(1), w = x.dim(2), c = x.dim(3);
  Tensor out = Tensor::empty({n, out_h, out_w, c});
  const float* src = x.data<float>();
  float* dst = out.data<float>();
#pragma omp parallel for schedule(static) if (out_h * out_w * c > 65536)
  for (int64_t row = 0; row < n * out_h; ++row) {
    const int64_t b = row / out_h, oy = row % out_h;
    const float* img = src + b * h * w * c;
    for (int64_t ox = 0; ox < out_w; ++ox) {
      float* d = dst + ((b * out_h + oy) * out_w + ox) * c;
      for (int64_t ch = 0; ch < c; ++ch) {
        float acc = 0;
        for (int j = 0; j < taps; ++j) {
          const int64_t iy = ty.index[static_cast<size_t>(oy * taps + j)];
          float inner = 0;
          for (int i = 0; i < taps; ++i) {
            const int64_t ix = tx.index[static_cast<size_t>(ox * taps + i)];
            const float v = img[(iy * w + ix) * c + ch] * tx.weight[static_cast<size_t>(ox * taps + i)];
            inner = i == 0 ? v : inner + v;
          }
          const float v = inner * ty.weight[static_cast<size_t>(oy * taps + j)];
          acc = j == 0 ? v : acc + v;
        }
        d[ch] = acc;
      }
    }
  }
  return out;
}

}  // namespace

Tensor interpolate_bilinear(const Tensor& x, int64_t out_h, int64_t out_w, bool align_corners) {
  check_map(x, out_h, out_w, "interpolate_bilinear");
  return separable(x, out_h, out_w, linear_taps(x.dim(1), out_h, align_corners),
                   linear_taps(x.dim(2), out_w, align_corners), 2);
}

Tensor interpolate_bicubic(const Tensor& x, int64_t out_h, int64_t out_w, double scale_h, double scale_w) {
  check_map(x, out_h, out_w, "interpolate_bicubic");
  check(scale_h > 0 && scale_w > 0, "interpolate_bicubic: scale factors must be positive");
  return separable(x, out_h, out_w, cubic_taps(x.dim(1), out_h, scale_h),
                   cubic_taps(x.dim(2), out_w, scale_w), 4);
}

}  // namespace i2i::ops
