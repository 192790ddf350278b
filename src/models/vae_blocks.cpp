#include "models/vae_blocks.h"

#include <cmath>

#include "core/error.h"
#include "kernels/ops.h"

namespace i2i {

namespace {
constexpr float kVaeEps = 1e-6f;

ResnetSpec vae_resnet(int64_t in, int64_t out, int groups) {
  return ResnetSpec{in, out, 0, groups, kVaeEps, 1.f};
}
}  // namespace

VaeAttention::VaeAttention(const Weights& w, const std::string& prefix, int64_t c, int groups,
                           Precision precision)
    : precision_(precision) {
  norm_ = load_group_norm(w, prefix + "group_norm", c, groups, kVaeEps);
  q_ = load_linear(w, prefix + "to_q", c, c, true, precision);
  k_ = load_linear(w, prefix + "to_k", c, c, true, precision);
  v_ = load_linear(w, prefix + "to_v", c, c, true, precision);
  out_ = load_linear(w, prefix + "to_out.0", c, c, true, precision);
  scale_ = 1.0f / std::sqrt(static_cast<float>(c));
}

Tensor VaeAttention::operator()(const Tensor& x) const {
  const Shape shape = x.shape();
  const Tensor tokens = x.reshape({shape[0], shape[1] * shape[2], shape[3]});
  Tensor n = norm_(x).reshape(tokens.shape());
  Tensor a = ops::attention(q_(n), k_(n), v_(n), 1, scale_, false, precision_);
  return out_(a, &tokens).reshape(shape);
}

VaeMidBlock::VaeMidBlock(const Weights& w, const std::string& prefix, int64_t c, int groups,
                         Precision precision)
    : resnet0_(w, prefix + "resnets.0.", vae_resnet(c, c, groups), precision),
      resnet1_(w, prefix + "resnets.1.", vae_resnet(c, c, groups), precision),
      attention_(w, prefix + "attentions.0.", c, groups, precision) {}

Tensor VaeMidBlock::operator()(const Tensor& x) const {
  return resnet1_(attention_(resnet0_(x, nullptr)), nullptr);
}

Tensor VaeLevel::operator()(const Tensor& x) const {
  Tensor h = x;
  for (const auto& r : resnets) h = r(h, nullptr);
  if (down) h = (*down)(h);
  if (up) h = (*up)(h);
  return h;
}

VaeEncoder::VaeEncoder(const Weights& w, const std::string& prefix, const VaeConfig& c, Precision precision) {
  const auto& ch = c.block_out_channels;
  const int n = c.levels(), g = c.norm_num_groups;
  conv_in_ = load_conv(w, prefix + "conv_in", ch[0], c.in_channels, 3, 1, Padding::same(1), precision);
  for (int i = 0; i < n; ++i) {
    const std::string b = prefix + "down_blocks." + std::to_string(i) + ".";
    VaeLevel level;
    for (int j = 0; j < c.layers_per_block; ++j)
      level.resnets.emplace_back(w, b + "resnets." + std::to_string(j) + ".",
                                 vae_resnet(j == 0 ? ch[i == 0 ? 0 : i - 1] : ch[i], ch[i], g), precision);
    // The VAE encoder pads only right and bottom (by 1) before its stride-2 convolution.
    if (i != n - 1) level.down.emplace(w, b + "downsamplers.0.", ch[i], Padding{0, 0, 1, 1}, precision);
    levels_.push_back(std::move(level));
  }
  mid_ = VaeMidBlock(w, prefix + "mid_block.", ch[n - 1], g, precision);
  norm_out_ = load_group_norm(w, prefix + "conv_norm_out", ch[n - 1], g, kVaeEps);
  conv_out_ =
      load_conv(w, prefix + "conv_out", 2 * c.latent_channels, ch[n - 1], 3, 1, Padding::same(1), precision);
}

Tensor VaeEncoder::operator()(const Tensor& x) const {
  Tensor h = conv_in_(x);
  for (const auto& level : levels_) h = level(h);
  return conv_out_(norm_out_(mid_(h), /*silu=*/true, conv_out_.input_dtype()));
}

VaeDecoder::VaeDecoder(const Weights& w, const std::string& prefix, const VaeConfig& c, Precision precision) {
  const auto& ch = c.block_out_channels;
  const int n = c.levels(), g = c.norm_num_groups;
  conv_in_ =
      load_conv(w, prefix + "conv_in", ch[n - 1], c.latent_channels, 3, 1, Padding::same(1), precision);
  mid_ = VaeMidBlock(w, prefix + "mid_block.", ch[n - 1], g, precision);
  int64_t prev = ch[n - 1];
  for (int i = 0; i < n; ++i) {
    const int64_t out = ch[n - 1 - i];
    const std::string b = prefix + "up_blocks." + std::to_string(i) + ".";
    VaeLevel level;
    for (int j = 0; j <= c.layers_per_block; ++j)
      level.resnets.emplace_back(w, b + "resnets." + std::to_string(j) + ".",
                                 vae_resnet(j == 0 ? prev : out, out, g), precision);
    if (i != n - 1) level.up.emplace(w, b + "upsamplers.0.", out, precision);
    levels_.push_back(std::move(level));
    prev = out;
  }
  norm_out_ = load_group_norm(w, prefix + "conv_norm_out", ch[0], g, kVaeEps);
  conv_out_ = load_conv(w, prefix + "conv_out", c.out_channels, ch[0], 3, 1, Padding::same(1), precision);
}

Tensor VaeDecoder::operator()(const Tensor& z) const {
  Tensor h = mid_(conv_in_(z));
  for (const auto& level : levels_) h = level(h);
  return conv_out_(norm_out_(h, /*silu=*/true, conv_out_.input_dtype()));
}

}  // namespace i2i
