// Image resizing as the img2img front ends do it: PIL's Image.resize (LANCZOS, 8-bit fixed point) and the
// three AUTOMATIC1111 resize modes of modules/images.py resize_image (without upscaler models).
#pragma once

#include <array>
#include <string>

#include "io/image.h"

namespace i2i {

enum class ResampleFilter {
  Lanczos,  // PIL Image.LANCZOS: windowed sinc, support 3
  Bicubic,  // PIL Image.BICUBIC: cubic convolution a = -0.5, support 2
};

// PIL's Image.resize((width, height), filter, box): separable two-pass convolution, horizontal pass first,
// support widened by the scale factor when downscaling (antialiasing), coefficients and the 8-bit
// intermediate in PIL's 22-bit fixed point. `box` = (x0, y0, x1, y1) is the source region (PIL passes it as
// float); an empty box extent along an axis is allowed (PIL then samples around the box edge). Images with
// alpha (2 or 4 channels) are premultiplied before and unpremultiplied after, as PIL does for LA / RGBA.
// Throws i2i::Error for a bad size or box.
Image resample(const Image& image, int width, int height, ResampleFilter filter, std::array<float, 4> box);
Image resample(const Image& image, int width, int height, ResampleFilter filter);

// PIL Image.resize((width, height), Image.LANCZOS): what AUTOMATIC1111 and diffusers use. Same size: a copy.
Image resize(const Image& image, int width, int height);

enum class ResizeMode {
  JustResize = 0,     // stretch to width x height
  CropAndResize = 1,  // scale to cover width x height keeping the aspect ratio, centre crop
  ResizeAndFill = 2,  // scale to fit inside, centre, fill the borders from the image's edge rows / columns
};

// AUTOMATIC1111 resize modes (modules/images.py resize_image with no upscaler). The output keeps the input's
// channel count; where A1111's black RGB canvas stays uncovered (in "resize and fill" when the free space is
// odd) the pixels are 0.
Image resize_just(const Image& image, int width, int height);
Image resize_crop(const Image& image, int width, int height);
Image resize_fill(const Image& image, int width, int height);
Image resize_image(ResizeMode mode, const Image& image, int width, int height);

// "just resize" / "crop and resize" / "resize and fill" (also "0", "1", "2", "stretch", "crop", "fill");
// throws i2i::Error listing the accepted names otherwise.
ResizeMode parse_resize_mode(const std::string& name);

}  // namespace i2i
