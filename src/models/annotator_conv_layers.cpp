#include "models/annotator_conv_layers.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "kernels/ops.h"

namespace i2i {

void relu_(Tensor& x) {
  float* p = x.data<float>();
  const int64_t n = x.numel();
#pragma omp parallel for schedule(static) if (n > (1 << 16))
  for (int64_t i = 0; i < n; ++i) p[i] = p[i] > 0.f ? p[i] : 0.f;
}

Tensor relu_to(const Tensor& x, DType out) {
  check(x.dtype() == DType::F32 && (out == DType::F32 || out == DType::BF16),
        "relu_to: expected a float32 input and a float32 or bf16 output");
  Tensor y = Tensor::empty(x.shape(), out);
  const float* s = x.data<float>();
  const int64_t n = x.numel();
  if (out == DType::F32) {
    float* d = y.data<float>();
#pragma omp parallel for schedule(static) if (n > (1 << 16))
    for (int64_t i = 0; i < n; ++i) d[i] = s[i] > 0.f ? s[i] : 0.f;
  } else {
    uint16_t* d = y.data<uint16_t>();
#pragma omp parallel for schedule(static) if (n > (1 << 16))
    for (int64_t i = 0; i < n; ++i) d[i] = f32_to_bf16(s[i] > 0.f ? s[i] : 0.f);
  }
  return y;
}

Tensor reflection_pad(const Tensor& x, int p) {
  check(x.ndim() == 4, "reflection_pad: expected [N, H, W, C], got " + shape_str(x.shape()));
  const int64_t n = x.dim(0), h = x.dim(1), w = x.dim(2), c = x.dim(3);
  check(p >= 0 && p < h && p < w, "reflection padding " + std::to_string(p) + " needs an input larger than " +
                                      std::to_string(p) + " pixels a side, got " + std::to_string(w) + "x" +
                                      std::to_string(h));
  const int64_t ho = h + 2 * p, wo = w + 2 * p;
  Tensor y = Tensor::empty({n, ho, wo, c});
  auto reflect = [](int64_t i, int64_t size) { return i < 0 ? -i : (i >= size ? 2 * size - 2 - i : i); };
  const float* src = x.data<float>();
  float* dst = y.data<float>();
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t b = 0; b < n; ++b)
    for (int64_t yo = 0; yo < ho; ++yo) {
      const float* row = src + (b * h + reflect(yo - p, h)) * w * c;
      float* out = dst + (b * ho + yo) * wo * c;
      for (int64_t xo = 0; xo < wo; ++xo)
        std::memcpy(out + xo * c, row + reflect(xo - p, w) * c, static_cast<size_t>(c) * sizeof(float));
    }
  return y;
}

Tensor instance_norm(const Tensor& x, float eps, bool relu) {
  const int64_t c = x.dim(-1);
  // Group normalisation with one channel per group is instance normalisation (biased variance, statistics
  // accumulated in double).
  Tensor ones = Tensor::empty({c}), zeros = Tensor::zeros({c});
  std::fill(ones.data<float>(), ones.data<float>() + c, 1.f);
  Tensor y = ops::group_norm(x, static_cast<int>(c), ones, zeros, eps);
  if (relu) relu_(y);
  return y;
}

Tensor max_pool2x2(const Tensor& x) {
  check(x.ndim() == 4, "max_pool2x2: expected [N, H, W, C], got " + shape_str(x.shape()));
  const int64_t n = x.dim(0), h = x.dim(1), w = x.dim(2), c = x.dim(3);
  const int64_t ho = h / 2, wo = w / 2;
  check(ho >= 1 && wo >= 1,
        "max pooling needs at least 2x2 pixels, got " + std::to_string(w) + "x" + std::to_string(h));
  Tensor y = Tensor::empty({n, ho, wo, c});
  const float* src = x.data<float>();
  float* dst = y.data<float>();
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t b = 0; b < n; ++b)
    for (int64_t i = 0; i < ho; ++i) {
      const float* r0 = src + ((b * h + 2 * i) * w) * c;
      const float* r1 = r0 + w * c;
      float* out = dst + ((b * ho + i) * wo) * c;
      for (int64_t j = 0; j < wo; ++j)
        for (int64_t k = 0; k < c; ++k) {
          const int64_t a = 2 * j * c + k, bb = a + c;
          // max_pool2d propagates NaN; std::max of the four in the window's order otherwise.
          float m = r0[a];
          for (float v : {r0[bb], r1[a], r1[bb]})
            if (v > m || v != v) m = v;
          out[j * c + k] = m;
        }
    }
  return y;
}

ConvTranspose3x3s2::ConvTranspose3x3s2(const Tensor& weight, const Tensor& bias, Precision precision) {
  check(weight.ndim() == 4 && weight.dim(2) == 3 && weight.dim(3) == 3,
        "transposed convolution: expected a [in, out, 3, 3] weight, got " + shape_str(weight.shape()));
  const int64_t in = weight.dim(0), out = weight.dim(1);
  out_ = out;
  const Tensor wf = weight.to(DType::F32);
  const float* wp = wf.data<float>();
  // Kernel taps per output parity: even outputs take tap 1 of the same input row; odd outputs tap 2 of the
  // same row and tap 0 of the next.
  const std::vector<int> taps[2] = {{1}, {2, 0}};
  for (int a = 0; a < 2; ++a)
    for (int b = 0; b < 2; ++b) {
      const int64_t kh = static_cast<int64_t>(taps[a].size()), kw = static_cast<int64_t>(taps[b].size());
      Tensor pw = Tensor::empty({out, in, kh, kw});
      float* p = pw.data<float>();
      for (int64_t o = 0; o < out; ++o)
        for (int64_t c = 0; c < in; ++c)
          for (int64_t r = 0; r < kh; ++r)
            for (int64_t s = 0; s < kw; ++s)
              p[((o * in + c) * kh + r) * kw + s] = wp[((c * out + o) * 3 + taps[a][r]) * 3 + taps[b][s]];
      phase_[2 * a + b] =
          Conv2d(pw, bias, 1, Padding{0, 0, static_cast<int>(kh - 1), static_cast<int>(kw - 1)}, precision);
    }
}

Tensor ConvTranspose3x3s2::operator()(const Tensor& x) const {
  const int64_t n = x.dim(0), h = x.dim(1), w = x.dim(2), c = out_;
  Tensor y = Tensor::empty({n, 2 * h, 2 * w, c});
  float* dst = y.data<float>();
  for (int a = 0; a < 2; ++a)
    for (int b = 0; b < 2; ++b) {
      const Tensor p = phase_[2 * a + b](x);
      const float* src = p.data<float>();
#pragma omp parallel for collapse(2) schedule(static)
      for (int64_t s = 0; s < n; ++s)
        for (int64_t i = 0; i < h; ++i)
          for (int64_t j = 0; j < w; ++j)
            std::memcpy(dst + ((s * 2 * h + 2 * i + a) * 2 * w + 2 * j + b) * c,
                        src + ((s * h + i) * w + j) * c, static_cast<size_t>(c) * sizeof(float));
    }
  return y;
}

Shape tensor_shape(const Weights& w, const std::string& name, size_t rank) {
  const Shape& s = w.get(name).shape();
  if (s.size() != rank)
    throw Error(w.origin() + ": tensor '" + w.full_name(name) + "' has shape " + shape_str(s) +
                ", expected " + std::to_string(rank) + " dimensions");
  return s;
}

}  // namespace i2i
