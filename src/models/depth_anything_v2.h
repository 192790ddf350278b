// Depth Anything V2 (DepthAnything/Depth-Anything-V2 @ a561b849, depth_anything_v2/{dpt,dinov2}.py): relative
// depth (larger = nearer) from one picture, the network behind A1111's depth_anything_v2 preprocessor.
//   1. DINOv2 ViT: patch conv (patch x patch, stride patch, bias) -> tokens row-major; class token prepended;
//      position embedding added, its grid interpolated when the input is not 518 x 518 (bicubic A = -0.75,
//      scale factor ((H/14 + 0.1) / 37, (W/14 + 0.1) / 37) used as given, in float32); blocks
//      x += ls1 * attn(norm1(x)), x += ls2 * mlp(norm2(x)) (LayerNorm eps 1e-6, exact GELU); the four
//      intermediate layers' outputs each through the final norm.
//   2. DPT head: tokens without the class token -> [ph, pw] maps; projects[i] 1x1; resize_layers
//      ConvTranspose 4/4, ConvTranspose 2/2, identity, conv 3x3 stride 2; layerN_rn 3x3 (no bias);
//      refinenet4..1 (FeatureFusionBlock: x0 + RCU1(x1), RCU2, bilinear align_corners=True to the next
//      size or x2, 1x1 out_conv; RCU = conv2(relu(conv1(relu(x)))) + x); output_conv1 3x3 -> bilinear
//      (align_corners=True) to (14 ph, 14 pw) -> 3x3, ReLU, 1x1 -> 1, ReLU; final ReLU.
// Activations are channels-last (NHWC); the fixtures' NCHW tensors are transposed to compare.
#pragma once

#include <array>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "kernels/conv2d.h"
#include "kernels/linear.h"
#include "kernels/precision.h"
#include "models/depth_anything_v2_config.h"
#include "models/weights.h"

namespace i2i {

// The stages of one forward pass, kept when asked for (tests compare them with the reference).
struct DepthAnythingV2Trace {
  Tensor patch_embed;                // [1, N, D] (the patch conv's tokens)
  Tensor pos_embed;                  // [1, 1 + N, D] as added (interpolated or not)
  std::vector<Tensor> intermediate;  // 4 x [1, 1 + N, D]: the taken blocks' outputs through the final norm
  std::array<Tensor, 4> layers;      // head_layer1..4 (after projects + resize_layers), NHWC
  std::array<Tensor, 3> paths;       // head_path4, head_path3, head_path2, NHWC
};

class DepthAnythingV2 {
 public:
  DepthAnythingV2() = default;
  // Reads and checks every tensor (errors name the tensor and the origin) and prepares the layers at
  // `precision` (Linear and Conv2d; norms, interpolation and attention softmax in float32).
  DepthAnythingV2(const Weights& w, const DepthAnythingV2Config& config,
                  Precision precision = Precision::F32);

  // x float32 NHWC [1, H, W, 3], H and W multiples of the patch size (the normalised picture) -> depth [H, W]
  // float32.
  Tensor forward(const Tensor& x, DepthAnythingV2Trace* trace = nullptr) const;

  // The position embedding for a ph x pw patch grid ([1, 1 + ph pw, D]): DINOv2's interpolate_pos_encoding.
  Tensor position_embedding(int64_t ph, int64_t pw) const;

  const DepthAnythingV2Config& config() const { return config_; }
  const std::string& origin() const { return origin_; }
  bool defined() const { return !blocks_.empty(); }

 private:
  struct Block {
    Tensor norm1_w, norm1_b, norm2_w, norm2_b, ls1, ls2;  // float32; ls: the LayerScale gammas
    Linear qkv, proj, fc1, fc2;
  };
  struct Rcu {
    Conv2d conv1, conv2;
  };
  struct Fusion {
    Rcu rcu1, rcu2;  // rcu1 unused by refinenet4
    Conv2d out_conv;
  };
  // ConvTranspose2d with kernel == stride as one Linear [(dy, dx, out), in] and a scatter.
  struct Upsample {
    Linear linear;
    int factor = 1;
    int64_t out_channels = 0;
  };

  Tensor block(const Block& b, const Tensor& x) const;
  Tensor fusion(const Fusion& f, const Tensor& x0, const Tensor* x1, int64_t out_h, int64_t out_w) const;

  DepthAnythingV2Config config_;
  std::string origin_;
  Precision precision_ = Precision::F32;
  Conv2d patch_embed_;
  Tensor cls_token_, pos_embed_;  // float32 [D], [1 + grid^2, D]
  std::vector<Block> blocks_;
  Tensor norm_w_, norm_b_;
  std::array<Linear, 4> projects_;
  std::array<Upsample, 2> resize_up_;  // resize_layers.0 (x4), .1 (x2)
  Conv2d resize_down_;                 // resize_layers.3 (3x3 stride 2)
  std::array<Conv2d, 4> layer_rn_;
  std::array<Fusion, 4> refine_;  // refinenet1..4
  Conv2d output_conv1_, output_conv2a_, output_conv2b_;
};

}  // namespace i2i
