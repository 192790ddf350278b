#include "preprocess/clip_image_processor.h"

#include <string>

#include "core/error.h"
#include "io/image_resize.h"

namespace i2i {

ClipImageGeometry clip_image_geometry(int width, int height, int size) {
  check(width > 0 && height > 0,
        "CLIP image processor: bad picture size " + std::to_string(width) + "x" + std::to_string(height));
  check(size > 0, "CLIP image processor: bad target size " + std::to_string(size));
  const bool portrait = width <= height;
  const int shorter = portrait ? width : height, longer = portrait ? height : width;
  // transformers' get_resize_output_image_size: int(size * long / short), a Python float division.
  const double other = static_cast<double>(size) * longer / shorter;
  check(other <= kMaxImageSide, "CLIP image processor: a " + std::to_string(width) + "x" +
                                    std::to_string(height) + " picture is too elongated to resize");
  const int other_side = static_cast<int>(other);
  ClipImageGeometry g;
  g.resized_width = portrait ? size : other_side;
  g.resized_height = portrait ? other_side : size;
  g.crop_left = (g.resized_width - size) / 2;
  g.crop_top = (g.resized_height - size) / 2;
  return g;
}

Image clip_image_resize(const Image& image, int size) {
  validate_image(image, "CLIP image processor");
  Image rgb = to_rgb(image);
  const ClipImageGeometry g = clip_image_geometry(rgb.width, rgb.height, size);
  if (g.resized_width == rgb.width && g.resized_height == rgb.height) return rgb;
  return resample(rgb, g.resized_width, g.resized_height, ResampleFilter::Bicubic);
}

Tensor clip_image_pixels(const Image& image, int size) {
  const Image resized = clip_image_resize(image, size);
  const ClipImageGeometry g = clip_image_geometry(image.width, image.height, size);
  Tensor t = Tensor::empty({1, size, size, 3});
  float* d = t.data<float>();
  const double rescale = 1.0 / 255.0;
  for (int y = 0; y < size; ++y) {
    const uint8_t* src = resized.pixel(g.crop_left, g.crop_top + y);
    for (int x = 0; x < size * 3; ++x) {
      const int c = x % 3;
      const auto v = static_cast<float>(src[x] * rescale);
      d[(static_cast<size_t>(y) * size) * 3 + x] = (v - kClipImageMean[c]) / kClipImageStd[c];
    }
  }
  return t;
}

}  // namespace i2i
