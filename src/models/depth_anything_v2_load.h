// Loading a Depth Anything V2 checkpoint: the released depth_anything_v2_vit{s,b,l}.pth state dicts as the
// model sites' .safetensors conversions ship them (keys "pretrained.*", "depth_head.*"; float32, float16 or
// bfloat16), with an optional `.json` sidecar beside the file (num_heads, intermediate_layer_idx; see
// depth_anything_v2_config.h). Pickled files (.pth / .pt / .ckpt / .bin, or a zip / pickle by their first
// bytes) are never unpickled: the error gives a one-line command that converts one.
#pragma once

#include <filesystem>

#include "kernels/precision.h"
#include "models/depth_anything_v2.h"

namespace i2i {

// Throws i2i::Error naming the file: missing, pickled, not safetensors, truncated, another network (an
// OpenPose body model, a ControlNet, ...), or a missing / misshapen tensor.
DepthAnythingV2 load_depth_anything_v2(const std::filesystem::path& file,
                                       Precision precision = Precision::F32);

}  // namespace i2i
