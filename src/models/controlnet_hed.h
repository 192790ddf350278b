// The soft-edge network of the ControlNet "softedge_hed" / "softedge_hedsafe" preprocessors: controlnet_aux
// hed/__init__.py ControlNetHED_Apache2 (A1111's annotator/hed is the same), from `ControlNetHED.pth`
// converted to .safetensors, keys as in that file:
//
//   h = x - norm                      (norm [1, 3, 1, 1]; x is RGB in 0..255, not divided)
//   block1: n x (conv 3x3 padding 1 (block1.convs.i), ReLU); projection1 = 1x1 conv to 1 channel of that
//   block2..5: max_pool2d(2, 2) first, then the same (projection2..5 at 1/2 .. 1/16 of the size)
//
// Five blocks of 2, 2, 3, 3, 3 convolutions, widths 64, 128, 256, 512, 512 in the real model; the number
// of blocks, of convolutions per block and the widths are read from the tensor names and shapes.
#pragma once

#include <filesystem>
#include <vector>

#include "core/tensor.h"
#include "kernels/conv2d.h"
#include "models/weights.h"

namespace i2i {

class ControlNetHed {
 public:
  ControlNetHed() = default;
  // i2i::Error naming the tensor and file for a missing tensor or a shape that does not fit.
  ControlNetHed(const Weights& w, Precision precision = Precision::F32);

  // x [N, H, W, 3] RGB float32 in 0..255 -> one projection per block, [N, H / 2^i, W / 2^i, 1] (floor).
  std::vector<Tensor> operator()(const Tensor& x) const;

  int blocks() const { return static_cast<int>(blocks_.size()); }

 private:
  struct Block {
    std::vector<Conv2d> convs;
    Conv2d projection;
  };
  float norm_[3] = {0, 0, 0};
  std::vector<Block> blocks_;
};

// A HED checkpoint (.safetensors in the ControlNetHED.pth layout); pickles refused, other annotator kinds
// named (models/annotator_file.h).
ControlNetHed load_controlnet_hed(const std::filesystem::path& file, Precision precision = Precision::F32);

}  // namespace i2i
