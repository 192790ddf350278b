// The annotator (ControlNet preprocessor) parts of `i2i bench`: random-weight Depth Anything V2 networks in
// the released checkpoints' layout, and the analytic FLOP count of one pass.
#pragma once

#include <cstdint>
#include <vector>

#include "models/depth_anything_v2_config.h"
#include "models/weights.h"
#include "tools/random_checkpoint.h"

namespace i2i {

// The released ViT-L (depth_anything_v2_vitl.pth): embed 1024, 24 blocks, 16 heads, MLP 4096, features 256,
// out channels [256, 512, 1024, 1024], layers [4, 11, 17, 23]; 335M parameters.
DepthAnythingV2Config depth_anything_v2_vitl();

// Every tensor of a Depth Anything V2 checkpoint of this configuration, named as the released files
// ("pretrained.*", "depth_head.*", mask_token included).
std::vector<TensorSpec> depth_anything_v2_layout(const DepthAnythingV2Config& config);
// Its weights in memory, filled as random_tensor does (LayerScale gammas ~ 1).
Weights random_depth_anything_v2_weights(const DepthAnythingV2Config& config, DType dtype, uint64_t seed);

// Multiply-adds x 2 of one forward pass at a ph x pw patch grid (the ViT up to the last taken layer and the
// DPT head's convolutions; norms, interpolation and activations not counted).
double depth_anything_v2_flops(const DepthAnythingV2Config& config, int64_t ph, int64_t pw);

}  // namespace i2i
