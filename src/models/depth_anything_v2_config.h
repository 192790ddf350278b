// Architecture of a Depth Anything V2 network (DepthAnything/Depth-Anything-V2 depth_anything_v2/dpt.py:
// a DINOv2 ViT with patch 14 and a 37 x 37 position grid (img_size 518), blocks with LayerScale, four
// intermediate layers through the final norm into a DPT head), read from the checkpoint's shapes:
//   vits: embed 384, 12 blocks, 6 heads, layers [2, 5, 8, 11], features 64, out [48, 96, 192, 384]
//   vitb: embed 768, 12 blocks, 12 heads, layers [2, 5, 8, 11], features 128, out [96, 192, 384, 768]
//   vitl: embed 1024, 24 blocks, 16 heads, layers [4, 11, 17, 23], features 256, out [256, 512, 1024, 1024]
// The head count and the intermediate layers are not in any shape: they follow the real models (64 channels
// a head; the layers by depth) unless a `.json` sidecar beside the file gives num_heads and
// intermediate_layer_idx (the fixtures' tiny network).
#pragma once

#include <array>
#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>

#include "models/weights.h"

namespace i2i {

struct DepthAnythingV2Config {
  int64_t embed_dim = 1024;
  int depth = 24;  // transformer blocks
  int num_heads = 16;
  int64_t mlp_hidden = 4096;
  int64_t patch_size = 14;
  int64_t pos_grid = 37;  // the position embedding's grid side (img_size 518 / 14)
  std::array<int, 4> intermediate_layers{4, 11, 17, 23};
  int64_t features = 256;  // DPT head width
  std::array<int64_t, 4> out_channels{256, 512, 1024, 1024};
  int64_t head_hidden = 32;  // output_conv2's first conv width
  float layer_norm_eps = 1e-6f;
  double interpolate_offset = 0.1;  // DINOv2's position-embedding interpolation offset

  // "vits", "vitb", "vitl" or "custom" (for messages).
  std::string variant() const;
};

// The configuration of the weights in `w` (keys as the released depth_anything_v2_vit*.pth: "pretrained.*",
// "depth_head.*"). `sidecar` (may be null): an object with num_heads / intermediate_layer_idx overriding
// the defaults. Throws i2i::Error naming the origin and the tensor or value.
DepthAnythingV2Config infer_depth_anything_v2_config(const Weights& w, const nlohmann::json* sidecar);

}  // namespace i2i
