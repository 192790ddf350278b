// Loading a CLIP vision encoder from a transformers folder, as diffusers' IP-Adapter loading does with
// CLIPVisionModelWithProjection.from_pretrained(<h94 repository>/models/image_encoder): config.json +
// model.safetensors (float32, float16 or bfloat16 weights; model.fp16.safetensors when that is the only
// one). PyTorch .bin weights are not read (pickle).
#pragma once

#include <filesystem>

#include "kernels/precision.h"
#include "models/clip_vision.h"

namespace i2i {

// Every failure is one i2i::Error naming the folder or file and the problem: no such folder, no config.json
// or a bad one, no safetensors weights (a folder with only pytorch_model.bin is named as such), a missing
// or misshapen tensor. The projection is used when the config's architectures name
// CLIPVisionModelWithProjection or CLIPModel (or, with no architectures given, when
// visual_projection.weight is present). Weights stay views of the mapped file until the layers have
// prepared their own copies.
ClipVisionEncoder load_clip_vision_folder(const std::filesystem::path& dir,
                                          Precision precision = Precision::F32);

}  // namespace i2i
