// Tiled processing for the VAE: overlapping tiles, each run independently, cross-faded in the overlaps.
#include <cstring>
#include <vector>

#include "core/error.h"
#include "models/vae.h"

namespace i2i {

namespace {

struct Span {
  int64_t begin = 0, size = 0;  // input pixels
};

// Tile origins along one dimension: 0, stride, 2*stride, ..., the last one flush with the end.
std::vector<Span> spans(int64_t length, int64_t tile, int64_t overlap, int64_t align) {
  if (length <= tile) return {{0, length}};
  int64_t stride = std::max(align, (tile - overlap) / align * align);
  std::vector<Span> out = {{0, tile}};
  while (out.back().begin + tile < length)
    out.push_back({std::min(out.back().begin + stride, length - tile), tile});
  return out;
}

// Blend weight of each output position of tile i (linear ramps where it overlaps its neighbours).
std::vector<float> ramp(const std::vector<Span>& s, size_t i, int64_t num, int64_t den) {
  const int64_t begin = s[i].begin * num / den, end = (s[i].begin + s[i].size) * num / den;
  std::vector<float> w(static_cast<size_t>(end - begin), 1.f);
  if (i > 0) {
    const int64_t prev_end = (s[i - 1].begin + s[i - 1].size) * num / den, ov = prev_end - begin;
    for (int64_t x = 0; x < ov; ++x) w[x] *= (static_cast<float>(x) + 0.5f) / static_cast<float>(ov);
  }
  if (i + 1 < s.size()) {
    const int64_t next_begin = s[i + 1].begin * num / den, ov = end - next_begin;
    for (int64_t x = end - ov; x < end; ++x)
      w[x - begin] *= (static_cast<float>(end - x) - 0.5f) / static_cast<float>(ov);
  }
  return w;
}

Tensor crop(const Tensor& x, const Span& ys, const Span& xs) {
  const int64_t n = x.dim(0), h = x.dim(1), w = x.dim(2), c = x.dim(3);
  Tensor t = Tensor::empty({n, ys.size, xs.size, c});
  for (int64_t b = 0; b < n; ++b)
    for (int64_t i = 0; i < ys.size; ++i)
      std::memcpy(t.data<float>() + ((b * ys.size + i) * xs.size) * c,
                  x.data<float>() + ((b * h + ys.begin + i) * w + xs.begin) * c,
                  static_cast<size_t>(xs.size * c) * sizeof(float));
  return t;
}

}  // namespace

Tensor run_tiled(const Tensor& x, int64_t tile, int64_t overlap, int64_t num, int64_t den,
                 const std::function<Tensor(const Tensor&)>& fn) {
  check(x.ndim() == 4 && x.dtype() == DType::F32, "tiled: input must be float32 [N, H, W, C]");
  check(tile > 0 && overlap >= 0 && overlap < tile && tile % den == 0 && overlap % den == 0,
        "tiled: invalid tile / overlap");
  check(x.dim(1) % den == 0 && x.dim(2) % den == 0,
        "tiled: input size " + shape_str(x.shape()) + " is not a multiple of " + std::to_string(den));
  const std::vector<Span> ys = spans(x.dim(1), tile, overlap, den), xs = spans(x.dim(2), tile, overlap, den);
  if (ys.size() == 1 && xs.size() == 1) return fn(x);
  const int64_t n = x.dim(0), oh = x.dim(1) * num / den, ow = x.dim(2) * num / den;
  Tensor out, wsum = Tensor::zeros({oh, ow});
  int64_t oc = 0;
  for (size_t ty = 0; ty < ys.size(); ++ty) {
    const std::vector<float> wy = ramp(ys, ty, num, den);
    for (size_t tx = 0; tx < xs.size(); ++tx) {
      const std::vector<float> wx = ramp(xs, tx, num, den);
      Tensor r = fn(crop(x, ys[ty], xs[tx]));
      const int64_t th = static_cast<int64_t>(wy.size()), tw = static_cast<int64_t>(wx.size());
      check(r.ndim() == 4 && r.dim(0) == n && r.dim(1) == th && r.dim(2) == tw,
            "tiled: tile output has shape " + shape_str(r.shape()));
      if (oc == 0) {
        oc = r.dim(3);
        out = Tensor::zeros({n, oh, ow, oc});
      }
      const int64_t y0 = ys[ty].begin * num / den, x0 = xs[tx].begin * num / den;
      float* o = out.data<float>();
      const float* src = r.data<float>();
      for (int64_t i = 0; i < th; ++i)
        for (int64_t j = 0; j < tw; ++j) {
          const float wgt = wy[i] * wx[j];
          wsum.data<float>()[(y0 + i) * ow + x0 + j] += wgt;
          for (int64_t b = 0; b < n; ++b) {
            float* dst = o + ((b * oh + y0 + i) * ow + x0 + j) * oc;
            const float* s = src + ((b * th + i) * tw + j) * oc;
            for (int64_t k = 0; k < oc; ++k) dst[k] += wgt * s[k];
          }
        }
    }
  }
  float* o = out.data<float>();
  for (int64_t b = 0; b < n; ++b)
    for (int64_t p = 0; p < oh * ow; ++p) {
      const float inv = 1.f / wsum.data<float>()[p];
      for (int64_t k = 0; k < oc; ++k) o[(b * oh * ow + p) * oc + k] *= inv;
    }
  return out;
}

}  // namespace i2i
