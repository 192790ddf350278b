#include "models/lineart_generator.h"

#include <cmath>
#include <string>

#include "core/error.h"
#include "kernels/ops.h"
#include "models/annotator_file.h"
#include "models/unet_layers.h"

namespace i2i {

namespace {

constexpr float kInstanceNormEps = 1e-5f;

Tensor sigmoid(const Tensor& x) {
  Tensor y = Tensor::empty(x.shape());
  const float* s = x.data<float>();
  float* d = y.data<float>();
  const int64_t n = x.numel();
#pragma omp parallel for schedule(static) if (n > (1 << 16))
  for (int64_t i = 0; i < n; ++i) d[i] = 1.f / (1.f + std::exp(-s[i]));
  return y;
}

}  // namespace

LineartGenerator::LineartGenerator(const Weights& w, Precision precision) {
  const Shape s0 = tensor_shape(w, "model0.1.weight", 4);
  ngf_ = s0[0];
  const int64_t in = s0[1];
  check(in == 3 && ngf_ >= 1 && ngf_ <= 4096,
        w.origin() + ": tensor 'model0.1.weight' has shape " + shape_str(s0) +
            ", expected [width, 3, 7, 7] (width 1 .. 4096; 64 in sk_model)");
  conv0_ = load_conv(w, "model0.1", ngf_, 3, 7, 1, Padding{}, precision);
  down1_ = load_conv(w, "model1.0", 2 * ngf_, ngf_, 3, 2, Padding::same(1), precision);
  down2_ = load_conv(w, "model1.3", 4 * ngf_, 2 * ngf_, 3, 2, Padding::same(1), precision);
  const int64_t c = 4 * ngf_;
  for (int i = 0;; ++i) {
    const std::string b = "model2." + std::to_string(i) + ".conv_block.";
    if (!w.has(b + "1.weight")) break;
    blocks_.push_back({load_conv(w, b + "1", c, c, 3, 1, Padding{}, precision),
                       load_conv(w, b + "5", c, c, 3, 1, Padding{}, precision)});
  }
  check(!blocks_.empty(), w.origin() + ": missing tensor 'model2.0.conv_block.1.weight'");
  up1_ = ConvTranspose3x3s2(w.get("model3.0.weight", {c, 2 * ngf_, 3, 3}), w.get("model3.0.bias", {2 * ngf_}),
                            precision);
  up2_ = ConvTranspose3x3s2(w.get("model3.3.weight", {2 * ngf_, ngf_, 3, 3}), w.get("model3.3.bias", {ngf_}),
                            precision);
  const Shape s4 = tensor_shape(w, "model4.1.weight", 4);
  check(s4[0] >= 1 && s4[0] <= 4, w.origin() + ": tensor 'model4.1.weight' has shape " + shape_str(s4) +
                                      ", expected 1 .. 4 output channels");
  conv4_ = load_conv(w, "model4.1", s4[0], ngf_, 7, 1, Padding{}, precision);
}

Tensor LineartGenerator::operator()(const Tensor& x, Stages* stages) const {
  check(conv0_.defined(), "line-art generator: not loaded");
  check(x.ndim() == 4 && x.dim(3) == 3,
        "line-art generator: expected an [N, H, W, 3] input, got " + shape_str(x.shape()));
  check(x.dim(1) >= 16 && x.dim(2) >= 16,
        "line-art generator: the input must be at least 16x16 pixels, got " + std::to_string(x.dim(2)) + "x" +
            std::to_string(x.dim(1)));
  Tensor h = instance_norm(conv0_(reflection_pad(x, 3)), kInstanceNormEps, true);
  if (stages) stages->model0 = h;
  h = instance_norm(down1_(h), kInstanceNormEps, true);
  h = instance_norm(down2_(h), kInstanceNormEps, true);
  if (stages) stages->model1 = h;
  for (const ResidualBlock& b : blocks_) {
    Tensor r = instance_norm(b.conv1(reflection_pad(h, 1)), kInstanceNormEps, true);
    r = instance_norm(b.conv2(reflection_pad(r, 1)), kInstanceNormEps, false);
    ops::add_(r, h);
    h = std::move(r);
  }
  if (stages) stages->model2 = h;
  h = instance_norm(up1_(h), kInstanceNormEps, true);
  h = instance_norm(up2_(h), kInstanceNormEps, true);
  if (stages) stages->model3 = h;
  Tensor logits = conv4_(reflection_pad(h, 3));
  if (stages) stages->logits = logits;
  return sigmoid(logits);
}

LineartGenerator load_lineart_generator(const std::filesystem::path& file, Precision precision) {
  return LineartGenerator(load_annotator_weights(file, "model0.1.weight", "line-art (sk_model)"), precision);
}

}  // namespace i2i
