#include "preprocess/annotator_resize.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/error.h"
#include "preprocess/opencv_resize.h"

namespace i2i {

Image hwc3(const Image& image) {
  validate_image(image, "HWC3");
  if (image.channels == 3) return image;
  Image out(image.width, image.height, 3);
  const size_t n = static_cast<size_t>(image.width) * image.height;
  const int ch = image.channels;
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* p = image.pixels.data() + i * ch;
    uint8_t* o = out.pixels.data() + i * 3;
    if (ch == 1) {
      o[0] = o[1] = o[2] = p[0];
      continue;
    }
    const uint8_t a = p[ch - 1];
    const float alpha = static_cast<float>(a) / 255.0f;
    for (int c = 0; c < 3; ++c) {
      const float color = static_cast<float>(ch == 2 ? p[0] : p[c]);
      const float y = color * alpha + 255.0f * (1.0f - alpha);
      o[c] = static_cast<uint8_t>(std::clamp(y, 0.0f, 255.0f));
    }
  }
  return out;
}

AnnotatorSize annotator_size(int width, int height, int resolution, const char* what) {
  if (resolution < 1 || resolution > kMaxAnnotatorResolution)
    throw Error(std::string(what) + " must be between 1 and " + std::to_string(kMaxAnnotatorResolution) +
                ", got " + std::to_string(resolution));
  check(width >= 1 && height >= 1, "annotator: empty image");
  const double k = static_cast<double>(resolution) / std::min(width, height);
  const double h = std::nearbyint(height * k / 64.0) * 64, w = std::nearbyint(width * k / 64.0) * 64;
  if (h < 1 || w < 1)
    throw Error(std::string(what) + " " + std::to_string(resolution) + " is too small for a " +
                std::to_string(width) + "x" + std::to_string(height) +
                " image (each side is rounded to a multiple of 64 and one would be 0)");
  if (h > kMaxImageSide || w > kMaxImageSide || h * w > static_cast<double>(max_image_pixels()))
    throw Error(std::string(what) + " " + std::to_string(resolution) + " makes a " + std::to_string(width) +
                "x" + std::to_string(height) + " image too large (" +
                std::to_string(static_cast<int64_t>(w)) + "x" + std::to_string(static_cast<int64_t>(h)) +
                ")");
  return {static_cast<int>(w), static_cast<int>(h)};
}

Image annotator_resize(const Image& rgb, int resolution, const char* what) {
  validate_image(rgb, "annotator input");
  const AnnotatorSize s = annotator_size(rgb.width, rgb.height, resolution, what);
  const double k = static_cast<double>(resolution) / std::min(rgb.width, rgb.height);
  return cv_resize(rgb, s.width, s.height, k > 1 ? CvInterpolation::Lanczos4 : CvInterpolation::Area);
}

}  // namespace i2i
