// The line-art generator of the ControlNet "lineart_realistic" / "lineart_coarse" preprocessors:
// controlnet_aux lineart/__init__.py Generator(3, 1, n_residual_blocks=3) (A1111's annotator/lineart is the
// same network), from `sk_model.pth` (fine) / `sk_model2.pth` (coarse) converted to .safetensors, keys as
// in those files:
//
//   model0: ReflectionPad 3, conv 7x7 (model0.1), InstanceNorm, ReLU
//   model1: 2 x (conv 3x3 stride 2 padding 1 (model1.0, model1.3), InstanceNorm, ReLU)
//   model2: residual blocks x + (ReflectionPad 1, conv 3x3 (conv_block.1), IN, ReLU, ReflectionPad 1,
//           conv 3x3 (conv_block.5), IN)(x)
//   model3: 2 x (ConvTranspose 3x3 stride 2 padding 1 output_padding 1 (model3.0, model3.3), IN, ReLU)
//   model4: ReflectionPad 3, conv 7x7 (model4.1) -> logits, Sigmoid
//
// InstanceNorm is nn.InstanceNorm2d(C): no parameters, biased variance, eps 1e-5. Widths (64 / 128 / 256 in
// the real models), the number of residual blocks and the output channels are read from the tensor shapes.
// Input [1, H, W, 3] RGB in 0..1 (uint8 / 255); H and W multiples of 4 keep the output the input's size.
#pragma once

#include <filesystem>
#include <vector>

#include "core/tensor.h"
#include "kernels/conv2d.h"
#include "models/annotator_conv_layers.h"
#include "models/weights.h"

namespace i2i {

class LineartGenerator {
 public:
  // The intermediate outputs, channels-last, for tests.
  struct Stages {
    Tensor model0, model1, model2, model3, logits;
  };

  LineartGenerator() = default;
  // Weights under the checkpoint's names; i2i::Error naming the tensor and file for a missing tensor or a
  // shape that does not fit the architecture.
  LineartGenerator(const Weights& w, Precision precision = Precision::F32);

  // x [N, H, W, 3] float32 in 0..1 -> sigmoid output [N, H', W', out_channels].
  Tensor operator()(const Tensor& x, Stages* stages = nullptr) const;

  int64_t width() const { return ngf_; }
  int residual_blocks() const { return static_cast<int>(blocks_.size()); }

 private:
  struct ResidualBlock {
    Conv2d conv1, conv2;
  };
  int64_t ngf_ = 0;
  Conv2d conv0_, down1_, down2_, conv4_;
  std::vector<ResidualBlock> blocks_;
  ConvTranspose3x3s2 up1_, up2_;
};

// A line-art checkpoint (.safetensors in the sk_model.pth / sk_model2.pth layout). Pickled files (.pth, ...)
// are refused with the command that converts them; other kinds of annotator checkpoints are named.
LineartGenerator load_lineart_generator(const std::filesystem::path& file,
                                        Precision precision = Precision::F32);

}  // namespace i2i
