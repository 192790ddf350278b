#include "pipelines/latent_ops.h"

#include <cstring>

#include "core/error.h"

namespace i2i {

Tensor concat_batch(const std::vector<Tensor>& parts) {
  Shape shape = parts.at(0).shape();
  int64_t n = 0;
  for (const auto& p : parts) n += p.dim(0);
  shape[0] = n;
  Tensor out = Tensor::empty(shape);
  char* dst = static_cast<char*>(out.raw());
  for (const auto& p : parts) {
    std::memcpy(dst, p.raw(), p.nbytes());
    dst += p.nbytes();
  }
  return out;
}

Tensor repeat_batch(const Tensor& x, int64_t times) {
  return concat_batch(std::vector<Tensor>(static_cast<size_t>(times), x));
}

Tensor draw_batch(const std::vector<NoiseSource*>& noise, const Shape& shape) {
  if (noise.size() == 1) return noise[0]->randn(shape);
  Shape one = shape;
  one[0] = 1;
  std::vector<Tensor> parts;
  for (NoiseSource* n : noise) parts.push_back(n->randn(one));
  return concat_batch(parts);
}

Tensor concat_channels(const std::vector<Tensor>& parts) {
  int64_t n = 0, c = 0;
  for (const auto& p : parts) {
    check(p.ndim() == 4, "concat_channels: expects NHWC tensors");
    n = std::max(n, p.dim(0));
    c += p.dim(3);
  }
  const int64_t h = parts[0].dim(1), w = parts[0].dim(2);
  for (const auto& p : parts)
    check(p.dim(1) == h && p.dim(2) == w && (p.dim(0) == n || p.dim(0) == 1),
          "concat_channels: the parts' sizes differ");
  Tensor out = Tensor::empty({n, h, w, c});
  float* o = out.data<float>();
  int64_t offset = 0;
  for (const auto& p : parts) {
    const int64_t pc = p.dim(3);
    const float* s = p.data<float>();
    for (int64_t b = 0; b < n; ++b) {
      const float* sb = s + (p.dim(0) == 1 ? 0 : b) * h * w * pc;
      for (int64_t k = 0; k < h * w; ++k)
        std::memcpy(o + (b * h * w + k) * c + offset, sb + k * pc, static_cast<size_t>(pc) * sizeof(float));
    }
    offset += pc;
  }
  return out;
}

Tensor blend_masked(const Tensor& x, const Tensor& keep, const Tensor& mask) {
  check(x.shape() == keep.shape(), "blend_masked: shapes differ");
  const int64_t n = x.dim(0), hw = x.dim(1) * x.dim(2), c = x.dim(3);
  check(mask.numel() == hw, "blend_masked: the mask does not fit the latents");
  Tensor out = Tensor::empty(x.shape());
  const float* xs = x.data<float>();
  const float* ks = keep.data<float>();
  const float* m = mask.data<float>();
  float* o = out.data<float>();
  for (int64_t b = 0; b < n; ++b)
    for (int64_t k = 0; k < hw; ++k)
      for (int64_t ch = 0; ch < c; ++ch) {
        const int64_t i = (b * hw + k) * c + ch;
        o[i] = (1.0f - m[k]) * ks[i] + m[k] * xs[i];
      }
  return out;
}

Tensor add_tensors(const Tensor& a, const Tensor& b) {
  check(a.shape() == b.shape(), "add_tensors: shapes differ");
  Tensor out = a.clone();
  float* o = out.data<float>();
  const float* s = b.data<float>();
  for (int64_t i = 0; i < out.numel(); ++i) o[i] += s[i];
  return out;
}

Tensor scale_tensor(const Tensor& x, float s) {
  Tensor out = x.clone();
  float* o = out.data<float>();
  for (int64_t i = 0; i < out.numel(); ++i) o[i] *= s;
  return out;
}

}  // namespace i2i
