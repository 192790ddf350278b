#include "preprocess/canny.h"

#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"

namespace i2i {

Image gray_opencv(const Image& image) {
  validate_image(image, "grey conversion");
  Image out(image.width, image.height, 1);
  const size_t n = static_cast<size_t>(image.width) * image.height;
  const int ch = image.channels;
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* p = image.pixels.data() + i * ch;
    if (ch <= 2) {
      out.pixels[i] = p[0];
    } else {
      out.pixels[i] = static_cast<uint8_t>((p[0] * 9798 + p[1] * 19235 + p[2] * 3735 + 16384) >> 15);
    }
  }
  return out;
}

namespace {

// Map states of the non-maximum suppression: a pixel is not an edge, may join an edge (a local maximum
// above `low`), or is an edge.
enum : uint8_t { kNone = 0, kWeak = 1, kEdge = 2 };

}  // namespace

Image canny_gray(const Image& gray, int low, int high) {
  validate_image(gray, "canny");
  check(gray.channels == 1, "canny: expected a 1-channel image, got " + std::to_string(gray.channels));
  check(low >= 0 && high >= 0,
        "canny: thresholds must not be negative, got " + std::to_string(low) + ", " + std::to_string(high));
  if (low > high) std::swap(low, high);
  const int w = gray.width, h = gray.height;
  auto px = [&](int x, int y) {  // replicated border
    x = x < 0 ? 0 : (x >= w ? w - 1 : x);
    y = y < 0 ? 0 : (y >= h ? h - 1 : y);
    return static_cast<int>(gray.pixels[static_cast<size_t>(y) * w + x]);
  };

  // Derivatives and L1 magnitude; the magnitude has a one-pixel frame of zeros around the image.
  const int mw = w + 2;
  std::vector<int> dx(static_cast<size_t>(w) * h), dy(dx.size());
  std::vector<int> mag(static_cast<size_t>(mw) * (h + 2), 0);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      const int gx = (px(x + 1, y - 1) - px(x - 1, y - 1)) + 2 * (px(x + 1, y) - px(x - 1, y)) +
                     (px(x + 1, y + 1) - px(x - 1, y + 1));
      const int gy = (px(x - 1, y + 1) - px(x - 1, y - 1)) + 2 * (px(x, y + 1) - px(x, y - 1)) +
                     (px(x + 1, y + 1) - px(x + 1, y - 1));
      const size_t i = static_cast<size_t>(y) * w + x;
      dx[i] = gx;
      dy[i] = gy;
      mag[static_cast<size_t>(y + 1) * mw + x + 1] = std::abs(gx) + std::abs(gy);
    }
  }

  // Non-maximum suppression. The direction is classified with integer arithmetic: tan(22.5 deg) in
  // 15-bit fixed point (rounded), and tan(67.5 deg) = tan(22.5 deg) + 2. Along the horizontal and vertical
  // directions a maximum must be strictly greater than the neighbour before it (left / above) and at least
  // equal to the one after it; along the diagonals strictly greater than both (OpenCV's tie-breaking).
  constexpr int kShift = 15;
  const int tg22 = static_cast<int>(0.4142135623730950488016887242097 * (1 << kShift) + 0.5);
  std::vector<uint8_t> map(mag.size(), kNone);
  std::vector<size_t> stack;
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      const size_t c = static_cast<size_t>(y + 1) * mw + x + 1;
      const int m = mag[c];
      if (m <= low) continue;
      const size_t i = static_cast<size_t>(y) * w + x;
      const int xs = dx[i], ys = dy[i];
      const int64_t ax = std::abs(xs);
      const int64_t ay = static_cast<int64_t>(std::abs(ys)) << kShift;
      const int64_t tg22x = ax * tg22;
      bool maximum;
      if (ay < tg22x) {
        maximum = m > mag[c - 1] && m >= mag[c + 1];
      } else if (ay > tg22x + (ax << (kShift + 1))) {
        maximum = m > mag[c - mw] && m >= mag[c + mw];
      } else {
        const int s = (xs ^ ys) < 0 ? -1 : 1;
        maximum = m > mag[c - mw - s] && m > mag[c + mw + s];
      }
      if (!maximum) continue;
      if (m > high) {
        map[c] = kEdge;
        stack.push_back(c);
      } else {
        map[c] = kWeak;
      }
    }
  }

  // Hysteresis: grow the edges through 8-connected weak pixels (the zero frame is never weak).
  const std::ptrdiff_t offsets[8] = {-1, 1, -mw - 1, -mw, -mw + 1, mw - 1, mw, mw + 1};
  while (!stack.empty()) {
    const size_t c = stack.back();
    stack.pop_back();
    for (std::ptrdiff_t o : offsets) {
      const size_t n = static_cast<size_t>(static_cast<std::ptrdiff_t>(c) + o);
      if (map[n] == kWeak) {
        map[n] = kEdge;
        stack.push_back(n);
      }
    }
  }

  Image out(w, h, 1);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      out.pixels[static_cast<size_t>(y) * w + x] =
          map[static_cast<size_t>(y + 1) * mw + x + 1] == kEdge ? 255 : 0;
  return out;
}

Image canny(const Image& rgb_or_gray, int low, int high) {
  return canny_gray(gray_opencv(rgb_or_gray), low, high);
}

}  // namespace i2i
