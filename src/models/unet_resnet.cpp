#include "models/unet_resnet.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "kernels/ops.h"

namespace i2i {

ResnetBlock::ResnetBlock(const Weights& w, const std::string& prefix, const ResnetSpec& spec,
                         Precision precision)
    : spec_(spec) {
  norm1_ = load_group_norm(w, prefix + "norm1", spec.in, spec.groups, spec.eps);
  conv1_ = load_conv(w, prefix + "conv1", spec.out, spec.in, 3, 1, Padding::same(1), precision);
  if (spec.temb > 0)
    time_proj_ = load_linear(w, prefix + "time_emb_proj", spec.out, spec.temb, true, precision);
  norm2_ = load_group_norm(w, prefix + "norm2", spec.out, spec.groups, spec.eps);
  conv2_ = load_conv(w, prefix + "conv2", spec.out, spec.out, 3, 1, Padding::same(1), precision);
  if (spec.in != spec.out)
    shortcut_ = load_conv(w, prefix + "conv_shortcut", spec.out, spec.in, 1, 1, Padding{}, precision);
}

Tensor ResnetBlock::operator()(const Tensor& x, const Tensor* temb_act) const {
  Tensor h = conv1_(norm1_(x, /*silu=*/true, conv1_.input_dtype()));
  if (time_proj_.defined()) {
    check(temb_act != nullptr, "ResnetBlock: time embedding required");
    ops::add_channel_bias_(h, time_proj_(*temb_act));
  }
  h = norm2_(h, /*silu=*/true, conv2_.input_dtype());
  Tensor shortcut = shortcut_.defined() ? shortcut_(x) : x;
  Tensor out = conv2_(h, &shortcut);
  if (spec_.output_scale != 1.f) ops::scale_(out, 1.f / spec_.output_scale);
  return out;
}

Downsample::Downsample(const Weights& w, const std::string& prefix, int64_t channels, Padding padding,
                       Precision precision)
    : conv_(load_conv(w, prefix + "conv", channels, channels, 3, 2, padding, precision)) {}

Upsample::Upsample(const Weights& w, const std::string& prefix, int64_t channels, Precision precision)
    : conv_(load_conv(w, prefix + "conv", channels, channels, 3, 1, Padding::same(1), precision)) {}

Tensor Upsample::operator()(const Tensor& x, int64_t out_h, int64_t out_w) const {
  bool twice = (out_h <= 0 && out_w <= 0) || (out_h == 2 * x.dim(1) && out_w == 2 * x.dim(2));
  return twice ? conv_.upsampled2x(x) : conv_(resize_nearest(x, out_h, out_w));
}

Tensor resize_nearest(const Tensor& x, int64_t h, int64_t w) {
  check(x.ndim() == 4 && h > 0 && w > 0, "resize_nearest: expects [N, H, W, C] and a positive size");
  const int64_t n = x.dim(0), ih = x.dim(1), iw = x.dim(2), c = x.dim(3);
  Tensor y = Tensor::empty({n, h, w, c});
  const float* src = x.data<float>();
  float* dst = y.data<float>();
  // PyTorch's nearest index: floor(dst * (float(in) / out)) in float32, clamped.
  const float sh = static_cast<float>(ih) / static_cast<float>(h),
              sw = static_cast<float>(iw) / static_cast<float>(w);
  for (int64_t b = 0; b < n; ++b)
    for (int64_t i = 0; i < h; ++i) {
      int64_t si = std::min(ih - 1, static_cast<int64_t>(std::floor(static_cast<float>(i) * sh)));
      for (int64_t j = 0; j < w; ++j) {
        int64_t sj = std::min(iw - 1, static_cast<int64_t>(std::floor(static_cast<float>(j) * sw)));
        std::memcpy(dst + ((b * h + i) * w + j) * c, src + ((b * ih + si) * iw + sj) * c,
                    static_cast<size_t>(c) * sizeof(float));
      }
    }
  return y;
}

void ResnetBlock::visit_layers(const std::string& prefix, const LayerVisitor& f) {
  visit_layer(f, prefix + "conv1", conv1_);
  visit_layer(f, prefix + "time_emb_proj", time_proj_);
  visit_layer(f, prefix + "conv2", conv2_);
  visit_layer(f, prefix + "conv_shortcut", shortcut_);
}

void Downsample::visit_layers(const std::string& prefix, const LayerVisitor& f) {
  visit_layer(f, prefix + "conv", conv_);
}

void Upsample::visit_layers(const std::string& prefix, const LayerVisitor& f) {
  visit_layer(f, prefix + "conv", conv_);
}

}  // namespace i2i
