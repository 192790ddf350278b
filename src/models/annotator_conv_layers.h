// The pieces of the ControlNet annotators' small convolutional networks (controlnet_aux lineart/ and hed/)
// that the kernel layer has no operation for, on channels-last float32 activations [N, H, W, C]: ReLU (also
// straight into a bf16 layer's input type),
// reflection padding (nn.ReflectionPad2d), parameter-free instance normalisation (nn.InstanceNorm2d(C):
// per sample and channel, biased variance, no affine, no running statistics), 2x2 max pooling
// (F.max_pool2d(2, 2), floor) and the 3x3 stride-2 transposed convolution of the line-art generator
// (nn.ConvTranspose2d(in, out, 3, stride 2, padding 1, output_padding 1): exactly twice the size), written
// as four sub-pixel convolutions on the existing Conv2d kernels.
#pragma once

#include <array>
#include <string>

#include "core/tensor.h"
#include "kernels/conv2d.h"
#include "models/weights.h"

namespace i2i {

// max(x, 0) in place.
void relu_(Tensor& x);
// max(x, 0) as a new tensor of type `out`: F32, or BF16 (rounded to nearest even) to feed a bf16 layer
// (Conv2d::input_dtype()) in the pass that applies the ReLU instead of a float32 copy and a conversion.
Tensor relu_to(const Tensor& x, DType out);
// ReflectionPad2d(p): [N, H, W, C] -> [N, H + 2p, W + 2p, C]; needs p < H and p < W (i2i::Error otherwise).
Tensor reflection_pad(const Tensor& x, int p);
// InstanceNorm2d (eps), optionally followed by ReLU.
Tensor instance_norm(const Tensor& x, float eps, bool relu);
// F.max_pool2d(x, 2, 2): [N, H, W, C] -> [N, H / 2, W / 2, C] (odd rows / columns dropped).
Tensor max_pool2x2(const Tensor& x);

// nn.ConvTranspose2d(in, out, 3, stride=2, padding=1, output_padding=1): [N, H, W, in] -> [N, 2H, 2W, out].
// Output pixel (2i + a, 2j + b) only sees input rows i (tap 1 when a = 0; tap 2 when a = 1) and i + 1 (tap 0
// when a = 1), the same for columns: four small convolutions (1x1, 1x2, 2x1, 2x2, zero padded after the last
// row / column), interleaved.
class ConvTranspose3x3s2 {
 public:
  ConvTranspose3x3s2() = default;
  // weight [in, out, 3, 3] (PyTorch's transposed layout) in any float dtype, bias [out].
  ConvTranspose3x3s2(const Tensor& weight, const Tensor& bias, Precision precision);
  Tensor operator()(const Tensor& x) const;
  int64_t out_channels() const { return out_; }

 private:
  std::array<Conv2d, 4> phase_;  // index 2a + b
  int64_t out_ = 0;
};

// The shape of `<name>` (i2i::Error naming the tensor and file when it is missing or not `rank`-D).
Shape tensor_shape(const Weights& w, const std::string& name, size_t rank);

}  // namespace i2i
