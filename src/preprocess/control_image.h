// Control images for ControlNet: user-supplied maps (depth, pose, scribble, lineart, or a ready Canny map)
// are taken as they are, converted to RGB and resized to the generation size; and the conversion of an
// 8-bit control image to the tensor a ControlNet takes.
#pragma once

#include <filesystem>

#include "core/tensor.h"
#include "io/image.h"
#include "io/image_resize.h"

namespace i2i {

// to_rgb (alpha dropped, grey replicated, as PIL convert("RGB")), then resize_image(mode) to width x height
// (PIL LANCZOS, as diffusers' control image processor; no resampling when the size already matches).
Image prepare_control_image(const Image& image, int width, int height,
                            ResizeMode mode = ResizeMode::JustResize);
// read_image(path), then as above. i2i::Error naming the file when it cannot be read.
Image load_control_image(const std::filesystem::path& path, int width, int height,
                         ResizeMode mode = ResizeMode::JustResize);

// An RGB image (3 channels; 1-channel images are replicated) as float32 NHWC [1, H, W, 3] in [0, 1]
// (value / 255 in float32, no normalisation to [-1, 1]: what diffusers' ControlNet pipelines feed).
Tensor control_image_tensor(const Image& image);

}  // namespace i2i
