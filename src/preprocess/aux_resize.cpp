#include "preprocess/aux_resize.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/error.h"
#include "io/cv_resize.h"
#include "preprocess/annotator_resize.h"
#include "preprocess/control_preprocessors.h"

namespace i2i {

namespace {

constexpr int kMinAnnotatorSide = 16;  // as annotator_resize.cpp

}  // namespace

AuxSize aux_resize_size(int width, int height, int resolution, const char* what) {
  if (resolution < kMinProcessorResolution || resolution > kMaxProcessorResolution)
    throw Error(std::string(what) + " must be between " + std::to_string(kMinProcessorResolution) + " and " +
                std::to_string(kMaxProcessorResolution) + ", got " + std::to_string(resolution));
  if (width < kMinAnnotatorSide || height < kMinAnnotatorSide)
    throw Error("the picture is " + std::to_string(width) + "x" + std::to_string(height) +
                ": an annotator needs at least " + std::to_string(kMinAnnotatorSide) + " pixels a side");
  const double k = static_cast<double>(resolution) / std::min(width, height);
  const double h = std::nearbyint(height * k / 64.0) * 64, w = std::nearbyint(width * k / 64.0) * 64;
  // With resolution >= 64 the short side is at least 64; a very long side can still exceed the limits.
  if (h < 1 || w < 1 || h > kMaxImageSide || w > kMaxImageSide ||
      h * w > static_cast<double>(max_image_pixels()))
    throw Error("the picture is " + std::to_string(width) + "x" + std::to_string(height) + ": at " + what +
                " " + std::to_string(resolution) + " it would be " + std::to_string(static_cast<int64_t>(w)) +
                "x" + std::to_string(static_cast<int64_t>(h)) + ", beyond the image limits");
  return {static_cast<int>(w), static_cast<int>(h)};
}

Image aux_resize_image(const Image& image, int resolution, const char* what) {
  const Image rgb = hwc3(image);
  const AuxSize s = aux_resize_size(rgb.width, rgb.height, resolution, what);
  const double k = static_cast<double>(resolution) / std::min(rgb.width, rgb.height);
  return cv_resize(rgb, s.width, s.height, k > 1 ? CvInterpolation::Lanczos4 : CvInterpolation::Area);
}

}  // namespace i2i
