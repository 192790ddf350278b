#include "pipelines/inpaint_mask.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.h"

namespace i2i {
namespace {

// BORDER_REFLECT_101 index (gfedcb|abcdefgh|gfedcba), for any offset.
int reflect101(int i, int n) {
  if (n == 1) return 0;
  const int period = 2 * (n - 1);
  i %= period;
  if (i < 0) i += period;
  return i < n ? i : period - i;
}

std::vector<double> gaussian_kernel(int taps, double sigma) {
  std::vector<double> k(static_cast<size_t>(taps));
  double sum = 0;
  for (int i = 0; i < taps; ++i) {
    const double x = i - (taps - 1) / 2.0;
    k[static_cast<size_t>(i)] = std::exp(-x * x / (2 * sigma * sigma));
    sum += k[static_cast<size_t>(i)];
  }
  for (double& v : k) v /= sum;
  return k;
}

uint8_t to_u8(double v) {
  return static_cast<uint8_t>(std::clamp(std::lround(v), 0L, 255L));
}

// Box blur of radius r along one axis of a float plane, edges extended (clamped), in place.
void box_blur_axis(std::vector<float>& p, int w, int h, int channels, int r, bool horizontal) {
  if (r <= 0) return;
  const int n = horizontal ? w : h, lines = horizontal ? h : w;
  std::vector<float> line(static_cast<size_t>(n) * channels), out(line.size());
  auto at = [&](int line_i, int k) -> size_t {
    return horizontal ? (static_cast<size_t>(line_i) * w + k) * channels
                      : (static_cast<size_t>(k) * w + line_i) * channels;
  };
  const float norm = 1.0f / static_cast<float>(2 * r + 1);
  for (int li = 0; li < lines; ++li) {
    for (int k = 0; k < n; ++k)
      for (int c = 0; c < channels; ++c) line[static_cast<size_t>(k) * channels + c] = p[at(li, k) + c];
    for (int c = 0; c < channels; ++c) {
      double acc = 0;
      for (int k = -r; k <= r; ++k) acc += line[static_cast<size_t>(std::clamp(k, 0, n - 1)) * channels + c];
      for (int k = 0; k < n; ++k) {
        out[static_cast<size_t>(k) * channels + c] = static_cast<float>(acc) * norm;
        acc += line[static_cast<size_t>(std::min(k + r + 1, n - 1)) * channels + c];
        acc -= line[static_cast<size_t>(std::max(k - r, 0)) * channels + c];
      }
    }
    for (int k = 0; k < n; ++k)
      for (int c = 0; c < channels; ++c) p[at(li, k) + c] = out[static_cast<size_t>(k) * channels + c];
  }
}

// An approximate Gaussian blur of standard deviation `sigma` (three box passes per axis).
void gaussian_blur_approx(std::vector<float>& p, int w, int h, int channels, double sigma) {
  if (sigma <= 0) return;
  const int r =
      std::max(1, static_cast<int>(std::lround((std::sqrt(4.0 * sigma * sigma + 1.0) - 1.0) / 2.0)));
  for (int pass = 0; pass < 3; ++pass) {
    box_blur_axis(p, w, h, channels, r, true);
    box_blur_axis(p, w, h, channels, r, false);
  }
}

void check_mask_for(const Image& mask, const Image& image, const char* what) {
  check(mask.channels == 1, std::string(what) + ": the mask must have 1 channel");
  check(mask.width == image.width && mask.height == image.height,
        std::string(what) + ": the mask is " + std::to_string(mask.width) + "x" +
            std::to_string(mask.height) + ", the image " + std::to_string(image.width) + "x" +
            std::to_string(image.height));
}

}  // namespace

Image read_mask(const Image& mask) {
  validate_image(mask, "mask");
  if (mask.channels == 2 || mask.channels == 4) {
    const int a = mask.channels - 1;
    bool opaque = true;
    for (size_t i = static_cast<size_t>(a); i < mask.pixels.size(); i += static_cast<size_t>(mask.channels))
      if (mask.pixels[i] != 255) {
        opaque = false;
        break;
      }
    if (!opaque) {
      Image out(mask.width, mask.height, 1);
      for (size_t i = 0; i < out.pixels.size(); ++i)
        out.pixels[i] = mask.pixels[i * static_cast<size_t>(mask.channels) + a] > 128 ? 255 : 0;
      return out;
    }
  }
  return mask.channels == 1 ? mask : to_gray(mask);
}

Image invert_mask(const Image& mask) {
  Image out = mask;
  for (auto& v : out.pixels) v = static_cast<uint8_t>(255 - v);
  return out;
}

bool mask_is_empty(const Image& mask) {
  return std::all_of(mask.pixels.begin(), mask.pixels.end(), [](uint8_t v) { return v == 0; });
}

Image blur_mask(const Image& mask, int blur) {
  check(mask.channels == 1, "blur_mask: the mask must have 1 channel");
  check(blur >= 0, "the mask blur must not be negative, got " + std::to_string(blur));
  if (blur == 0) return mask;
  const int taps = 2 * static_cast<int>(2.5 * blur + 0.5) + 1, half = taps / 2;
  const std::vector<double> k = gaussian_kernel(taps, blur);
  const int w = mask.width, h = mask.height;
  Image tmp(w, h, 1), out(w, h, 1);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      double acc = 0;
      for (int i = 0; i < taps; ++i)
        acc += k[static_cast<size_t>(i)] * mask.at(reflect101(x + i - half, w), y, 0);
      tmp.at(x, y, 0) = to_u8(acc);
    }
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      double acc = 0;
      for (int i = 0; i < taps; ++i)
        acc += k[static_cast<size_t>(i)] * tmp.at(x, reflect101(y + i - half, h), 0);
      out.at(x, y, 0) = to_u8(acc);
    }
  return out;
}

std::optional<CropBox> get_crop_region(const Image& mask, int pad) {
  check(mask.channels == 1, "get_crop_region: the mask must have 1 channel");
  int x1 = mask.width, y1 = mask.height, x2 = 0, y2 = 0;
  for (int y = 0; y < mask.height; ++y)
    for (int x = 0; x < mask.width; ++x)
      if (mask.at(x, y, 0) != 0) {
        x1 = std::min(x1, x);
        y1 = std::min(y1, y);
        x2 = std::max(x2, x + 1);
        y2 = std::max(y2, y + 1);
      }
  if (x2 == 0) return std::nullopt;
  return CropBox{std::max(x1 - pad, 0), std::max(y1 - pad, 0), std::min(x2 + pad, mask.width),
                 std::min(y2 + pad, mask.height)};
}

CropBox expand_crop_region(CropBox b, int width, int height, int image_width, int image_height) {
  const double ratio_box = static_cast<double>(b.width()) / b.height();
  const double ratio = static_cast<double>(width) / height;
  // One axis grows to the processing aspect ratio, half on each side; then the box is shifted back inside.
  auto grow = [](int& lo, int& hi, double desired, int limit) {
    const int diff = static_cast<int>(desired - (hi - lo));
    lo -= diff / 2;  // diff >= 0: floor division as Python's //
    hi += diff - diff / 2;
    if (hi >= limit) {
      const int over = hi - limit;
      hi -= over;
      lo -= over;
    }
    if (lo < 0) {
      hi -= lo;
      lo = 0;
    }
    if (hi >= limit) hi = limit;
  };
  if (ratio_box > ratio)
    grow(b.y1, b.y2, b.width() / ratio, image_height);
  else
    grow(b.x1, b.x2, b.height() * ratio, image_width);
  return b;
}

Image crop_image(const Image& image, const CropBox& b) {
  check(b.x1 >= 0 && b.y1 >= 0 && b.x2 <= image.width && b.y2 <= image.height && b.x1 < b.x2 && b.y1 < b.y2,
        "crop box outside the image");
  Image out(b.width(), b.height(), image.channels);
  const size_t row = static_cast<size_t>(b.width()) * image.channels;
  for (int y = 0; y < b.height(); ++y) std::copy_n(image.pixel(b.x1, b.y1 + y), row, out.row(y));
  return out;
}

Image paste_image(const Image& image, const Image& patch, const CropBox& b) {
  check(patch.width == b.width() && patch.height == b.height() && patch.channels == image.channels,
        "paste_image: the patch does not fit the box");
  Image out = image;
  const size_t row = static_cast<size_t>(b.width()) * image.channels;
  for (int y = 0; y < b.height(); ++y) std::copy_n(patch.row(y), row, out.pixel(b.x1, b.y1 + y));
  return out;
}

Image fill_masked(const Image& rgb, const Image& mask) {
  check(rgb.channels == 3, "fill_masked: the image must be RGB");
  check_mask_for(mask, rgb, "fill_masked");
  const int w = rgb.width, h = rgb.height;
  const size_t n = static_cast<size_t>(w) * h;
  // Premultiplied RGBA of the unmasked pixels (alpha = 1 - mask).
  std::vector<float> src(n * 4);
  for (size_t i = 0; i < n; ++i) {
    const float a = 1.0f - mask.pixels[i] / 255.0f;
    for (int c = 0; c < 3; ++c) src[i * 4 + c] = rgb.pixels[i * 3 + c] / 255.0f * a;
    src[i * 4 + 3] = a;
  }
  std::vector<float> acc(n * 4, 0.0f);  // straight colour + alpha of the composite so far
  for (auto [radius, repeats] : {std::pair{256, 1}, {64, 1}, {16, 2}, {4, 4}, {2, 2}, {0, 1}}) {
    std::vector<float> layer = src;
    gaussian_blur_approx(layer, w, h, 4, radius);
    for (int rep = 0; rep < repeats; ++rep)
      for (size_t i = 0; i < n; ++i) {
        const float sa = layer[i * 4 + 3], da = acc[i * 4 + 3];
        const float oa = sa + da * (1 - sa);
        for (int c = 0; c < 3; ++c) {
          const float sc = sa > 0 ? layer[i * 4 + c] / sa : 0.0f;  // un-premultiplied source colour
          const float v = sc * sa + acc[i * 4 + c] * da * (1 - sa);
          acc[i * 4 + c] = oa > 0 ? v / oa : 0.0f;
        }
        acc[i * 4 + 3] = oa;
      }
  }
  Image out(w, h, 3);
  for (size_t i = 0; i < n; ++i)
    for (int c = 0; c < 3; ++c) out.pixels[i * 3 + c] = to_u8(acc[i * 4 + c] * 255.0);
  return out;
}

Image composite_over(const Image& generated, const Image& source, const Image& overlay_mask) {
  check(generated.channels == 3 && source.channels == 3, "composite_over: the images must be RGB");
  check(generated.width == source.width && generated.height == source.height,
        "composite_over: the generated image and the source differ in size");
  check_mask_for(overlay_mask, source, "composite_over");
  Image out = source;
  for (size_t i = 0; i < overlay_mask.pixels.size(); ++i) {
    const int m = overlay_mask.pixels[i];
    if (m == 0) continue;
    for (int c = 0; c < 3; ++c) {
      const size_t k = i * 3 + c;
      out.pixels[k] =
          static_cast<uint8_t>((source.pixels[k] * (255 - m) + generated.pixels[k] * m + 127) / 255);
    }
  }
  return out;
}

}  // namespace i2i
