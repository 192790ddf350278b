// The CLIP image processor: what transformers' CLIPImageProcessor() (4.38, default settings, PIL input) does
// to a picture before a CLIP vision encoder sees it, as diffusers' IP-Adapter pipelines call it
// (encode_image). Steps: convert("RGB"); resize so that the shortest side is `size` and the other side is
// int(size * long / short) (truncated) with PIL's Image.resize(BICUBIC) on the 8-bit image
// (io/image_resize.h: antialiased when downscaling, 8-bit intermediate); centre crop size x size at ((h -
// size) // 2, (w - size) // 2); x = float32(value * (1 / 255 in double)); (x - mean) / std in float32 with
// the OpenAI CLIP mean and std (rounded to float32, as numpy does with a float32 image).
#pragma once

#include <array>

#include "core/tensor.h"
#include "io/image.h"

namespace i2i {

inline constexpr int kClipImageSize = 224;
inline constexpr std::array<float, 3> kClipImageMean = {0.48145466f, 0.4578275f, 0.40821073f};
inline constexpr std::array<float, 3> kClipImageStd = {0.26862954f, 0.26130258f, 0.27577711f};

// Where the processor's resize and crop put a width x height picture.
struct ClipImageGeometry {
  int resized_width = 0, resized_height = 0;  // shortest side = size
  int crop_left = 0, crop_top = 0;            // of the size x size crop in the resized picture
};
// Throws i2i::Error for a non-positive size or a picture whose long side would overflow the image limits.
ClipImageGeometry clip_image_geometry(int width, int height, int size = kClipImageSize);

// The resize step alone: RGB (to_rgb), shortest side `size`, PIL bicubic; no crop. (A picture already at
// that size is returned as it is, as PIL does.)
Image clip_image_resize(const Image& image, int size = kClipImageSize);

// The processor's output, pixel_values as float32 NHWC [1, size, size, 3] (diffusers' is NCHW
// [1, 3, size, size]: the same values, channels last as every i2i image tensor).
Tensor clip_image_pixels(const Image& image, int size = kClipImageSize);

}  // namespace i2i
