#include "preprocess/annotator_resize.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "core/error.h"
#include "io/cv_resize.h"
#include "preprocess/control_preprocessors.h"

namespace i2i {

namespace {

constexpr int kMinAnnotatorSide = 16;

}  // namespace

Image hwc3(const Image& image) {
  validate_image(image, "annotator input");
  if (image.channels == 3) return image;
  Image out(image.width, image.height, 3);
  const size_t n = static_cast<size_t>(image.width) * image.height;
  const int cn = image.channels;
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* s = &image.pixels[i * cn];
    uint8_t* d = &out.pixels[i * 3];
    if (cn == 1) {
      d[0] = d[1] = d[2] = s[0];
      continue;
    }
    const float alpha = static_cast<float>(s[cn - 1]) / 255.0f;
    for (int c = 0; c < 3; ++c) {
      const float color = static_cast<float>(s[cn == 2 ? 0 : c]);
      const float y = std::clamp(color * alpha + 255.0f * (1.0f - alpha), 0.0f, 255.0f);
      d[c] = static_cast<uint8_t>(y);
    }
  }
  return out;
}

PaddedImage resize_image_with_pad(const Image& image, int resolution) {
  if (resolution < kMinProcessorResolution || resolution > kMaxProcessorResolution)
    throw Error("processor resolution must be between " + std::to_string(kMinProcessorResolution) + " and " +
                std::to_string(kMaxProcessorResolution) + ", got " + std::to_string(resolution));
  const Image img = hwc3(image);
  if (img.width < kMinAnnotatorSide || img.height < kMinAnnotatorSide)
    throw Error("the picture is " + std::to_string(img.width) + "x" + std::to_string(img.height) +
                ": an annotator needs at least " + std::to_string(kMinAnnotatorSide) + " pixels a side");
  const double k = static_cast<double>(resolution) / std::min(img.width, img.height);
  const double ht = std::nearbyint(img.height * k), wt = std::nearbyint(img.width * k);
  if (ht > kMaxImageSide - 64 || wt > kMaxImageSide - 64)
    throw Error("the picture is " + std::to_string(img.width) + "x" + std::to_string(img.height) +
                ": scaled to processor resolution " + std::to_string(resolution) + " it would be too large");
  PaddedImage out;
  out.width = static_cast<int>(wt);
  out.height = static_cast<int>(ht);
  const Image scaled =
      cv_resize(img, out.width, out.height, k > 1 ? CvInterpolation::Cubic : CvInterpolation::Area);
  const int pw = (out.width + 63) / 64 * 64, ph = (out.height + 63) / 64 * 64;
  out.image = Image(pw, ph, 3);
  for (int y = 0; y < ph; ++y) {
    const uint8_t* s = scaled.row(std::min(y, out.height - 1));
    uint8_t* d = out.image.row(y);
    std::memcpy(d, s, static_cast<size_t>(out.width) * 3);
    for (int x = out.width; x < pw; ++x) std::memcpy(d + x * 3, s + (out.width - 1) * 3, 3);
  }
  return out;
}

Image remove_pad(const Image& map, int width, int height) {
  validate_image(map, "annotator map");
  check(width > 0 && height > 0 && width <= map.width && height <= map.height,
        "remove_pad: " + std::to_string(width) + "x" + std::to_string(height) + " is outside the map");
  Image out(width, height, map.channels);
  for (int y = 0; y < height; ++y)
    std::memcpy(out.row(y), map.row(y), static_cast<size_t>(width) * map.channels);
  return out;
}

}  // namespace i2i
