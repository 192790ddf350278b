#include "models/controlnet_hed.h"

#include <string>

#include "core/error.h"
#include "models/annotator_conv_layers.h"
#include "models/annotator_file.h"
#include "models/unet_layers.h"

namespace i2i {

ControlNetHed::ControlNetHed(const Weights& w, Precision precision) {
  const Tensor norm = w.get("norm", {1, 3, 1, 1}).to(DType::F32);
  for (int c = 0; c < 3; ++c) norm_[c] = norm.data<float>()[c];
  int64_t in = 3;
  for (int b = 1;; ++b) {
    const std::string p = "block" + std::to_string(b) + ".";
    if (!w.has(p + "convs.0.weight")) break;
    Block block;
    const Shape s0 = tensor_shape(w, p + "convs.0.weight", 4);
    const int64_t width = s0[0];
    check(width >= 1 && width <= 4096, w.origin() + ": tensor '" + p + "convs.0.weight' has shape " +
                                           shape_str(s0) + ", expected 1 .. 4096 output channels");
    for (int i = 0;; ++i) {
      const std::string name = p + "convs." + std::to_string(i);
      if (!w.has(name + ".weight")) break;
      block.convs.push_back(
          load_conv(w, name, width, i == 0 ? in : width, 3, 1, Padding::same(1), precision));
    }
    block.projection = load_conv(w, p + "projection", 1, width, 1, 1, Padding{}, precision);
    blocks_.push_back(std::move(block));
    in = width;
  }
  check(!blocks_.empty(), w.origin() + ": missing tensor 'block1.convs.0.weight'");
}

std::vector<Tensor> ControlNetHed::operator()(const Tensor& x) const {
  check(!blocks_.empty(), "HED: not loaded");
  check(x.ndim() == 4 && x.dim(3) == 3, "HED: expected an [N, H, W, 3] input, got " + shape_str(x.shape()));
  const int64_t min_side = int64_t{1} << (blocks_.size() - 1);
  check(x.dim(1) >= min_side && x.dim(2) >= min_side,
        "HED: the input must be at least " + std::to_string(min_side) + " pixels a side, got " +
            std::to_string(x.dim(2)) + "x" + std::to_string(x.dim(1)));
  Tensor h = Tensor::empty(x.shape());
  {
    const float* s = x.data<float>();
    float* d = h.data<float>();
    const int64_t n = x.numel() / 3;
    for (int64_t i = 0; i < n; ++i)
      for (int c = 0; c < 3; ++c) d[3 * i + c] = s[3 * i + c] - norm_[c];
  }
  std::vector<Tensor> projections;
  for (size_t b = 0; b < blocks_.size(); ++b) {
    if (b > 0) h = max_pool2x2(h);
    for (const Conv2d& conv : blocks_[b].convs) {
      h = conv(h);
      relu_(h);
    }
    projections.push_back(blocks_[b].projection(h));
  }
  return projections;
}

ControlNetHed load_controlnet_hed(const std::filesystem::path& file, Precision precision) {
  return ControlNetHed(load_annotator_weights(file, "block1.convs.0.weight", "HED soft-edge (ControlNetHED)"),
                       precision);
}

}  // namespace i2i
