// PIL-compatible resampling (the algorithm of Pillow's libImaging/Resample.c, reimplemented from its
// description: per output sample a normalised filter window centred at (i + 0.5) * scale, support scaled by
// max(scale, 1), weights rounded to 22-bit fixed point, round-half-up accumulation, clamp to 0..255).
#include "io/image_resize.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numbers>
#include <vector>

#include "core/error.h"

namespace i2i {

namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;

double sinc(double x) {
  if (x == 0.0) return 1.0;
  x *= std::numbers::pi;
  return std::sin(x) / x;
}

double lanczos(double x) {
  if (-3.0 <= x && x < 3.0) return sinc(x) * sinc(x / 3.0);
  return 0.0;
}

double bicubic(double x) {
  constexpr double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
  if (x < 2.0) return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
  return 0.0;
}

struct Coeffs {
  int ksize = 0;
  std::vector<int> bounds;  // per output sample: first input index, count
  std::vector<int32_t> k;   // ksize weights per output sample (fixed point)
};

Coeffs precompute(int in_size, float in0, float in1, int out_size, ResampleFilter filter) {
  double (*fn)(double) = filter == ResampleFilter::Lanczos ? lanczos : bicubic;
  const double support0 = filter == ResampleFilter::Lanczos ? 3.0 : 2.0;
  const double scale = (static_cast<double>(in1) - static_cast<double>(in0)) / out_size;
  const double filterscale = scale < 1.0 ? 1.0 : scale;
  const double support = support0 * filterscale;
  Coeffs c;
  c.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  c.bounds.resize(static_cast<size_t>(out_size) * 2);
  c.k.assign(static_cast<size_t>(out_size) * c.ksize, 0);
  std::vector<double> w(c.ksize);
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = in0 + (xx + 0.5) * scale;
    const double ss = 1.0 / filterscale;
    int xmin = static_cast<int>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) {
      w[x] = fn((x + xmin - center + 0.5) * ss);
      ww += w[x];
    }
    int32_t* k = &c.k[static_cast<size_t>(xx) * c.ksize];
    for (int x = 0; x < xmax; ++x) {
      double v = ww != 0.0 ? w[x] / ww : w[x];
      k[x] = v < 0 ? static_cast<int32_t>(-0.5 + v * (1 << kPrecisionBits))
                   : static_cast<int32_t>(0.5 + v * (1 << kPrecisionBits));
    }
    c.bounds[xx * 2] = xmin;
    c.bounds[xx * 2 + 1] = xmax;
  }
  return c;
}

inline uint8_t clip8(int v) {
  v >>= kPrecisionBits;
  return static_cast<uint8_t>(v < 0 ? 0 : (v > 255 ? 255 : v));
}

// Rows [row0, row0 + rows) of `in` resampled horizontally to `out` (out.height == rows).
void horizontal(const Image& in, Image& out, int row0, const Coeffs& c) {
  const int ch = in.channels;
  for (int y = 0; y < out.height; ++y) {
    const uint8_t* src = in.row(row0 + y);
    uint8_t* dst = out.row(y);
    for (int xx = 0; xx < out.width; ++xx) {
      const int xmin = c.bounds[xx * 2], xmax = c.bounds[xx * 2 + 1];
      const int32_t* k = &c.k[static_cast<size_t>(xx) * c.ksize];
      for (int ci = 0; ci < ch; ++ci) {
        int ss = 1 << (kPrecisionBits - 1);
        for (int x = 0; x < xmax; ++x) ss += src[(x + xmin) * ch + ci] * k[x];
        dst[xx * ch + ci] = clip8(ss);
      }
    }
  }
}

// `bounds` are relative to the first row of `in`.
void vertical(const Image& in, Image& out, const Coeffs& c, int shift) {
  const int ch = in.channels;
  const size_t row_len = static_cast<size_t>(in.width) * ch;
  for (int yy = 0; yy < out.height; ++yy) {
    const int ymin = c.bounds[yy * 2] - shift, ymax = c.bounds[yy * 2 + 1];
    const int32_t* k = &c.k[static_cast<size_t>(yy) * c.ksize];
    uint8_t* dst = out.row(yy);
    for (size_t i = 0; i < row_len; ++i) {
      int ss = 1 << (kPrecisionBits - 1);
      for (int y = 0; y < ymax; ++y) ss += in.row(y + ymin)[i] * k[y];
      dst[i] = clip8(ss);
    }
  }
}

// PIL's RGBA -> RGBa / LA -> La: colour * alpha / 255 with MULDIV255 rounding.
Image premultiply(const Image& image) {
  Image out = image;
  const int ch = image.channels;
  const size_t n = static_cast<size_t>(image.width) * image.height;
  for (size_t i = 0; i < n; ++i) {
    uint8_t* p = &out.pixels[i * ch];
    const unsigned a = p[ch - 1];
    for (int c = 0; c < ch - 1; ++c) {
      unsigned t = p[c] * a + 128;
      p[c] = static_cast<uint8_t>(((t >> 8) + t) >> 8);
    }
  }
  return out;
}

// PIL's RGBa -> RGBA: alpha 0 or 255 unchanged, else min(255, colour * 255 / alpha) (integer division).
void unpremultiply(Image& image) {
  const int ch = image.channels;
  const size_t n = static_cast<size_t>(image.width) * image.height;
  for (size_t i = 0; i < n; ++i) {
    uint8_t* p = &image.pixels[i * ch];
    const unsigned a = p[ch - 1];
    if (a == 0 || a == 255) continue;
    for (int c = 0; c < ch - 1; ++c) p[c] = static_cast<uint8_t>(std::min(255u, 255u * p[c] / a));
  }
}

void check_size(int width, int height, const char* what) {
  if (width <= 0 || height <= 0 || width > kMaxImageSide || height > kMaxImageSide ||
      static_cast<int64_t>(width) * height > max_image_pixels())
    throw Error(std::string(what) + ": target size " + std::to_string(width) + "x" + std::to_string(height) +
                " is empty or too large");
}

// PIL's Image.paste(src, (x0, y0)) without a mask: copy, clipped to `dst`.
void paste(Image& dst, const Image& src, int x0, int y0) {
  const int xa = std::max(0, x0), xb = std::min(dst.width, x0 + src.width);
  const int ya = std::max(0, y0), yb = std::min(dst.height, y0 + src.height);
  if (xa >= xb || ya >= yb) return;
  const int ch = dst.channels;
  for (int y = ya; y < yb; ++y)
    std::memcpy(dst.pixel(xa, y), src.pixel(xa - x0, y - y0), static_cast<size_t>(xb - xa) * ch);
}

}  // namespace

Image resample(const Image& image, int width, int height, ResampleFilter filter, std::array<float, 4> box) {
  validate_image(image, "resize");
  check_size(width, height, "resize");
  if (!(box[0] >= 0 && box[1] >= 0 && box[2] <= image.width && box[3] <= image.height))
    throw Error("resize: box exceeds the image size");
  if (!(box[2] - box[0] >= 0 && box[3] - box[1] >= 0)) throw Error("resize: box is inverted");

  const bool alpha = has_alpha(image);
  Image src = alpha ? premultiply(image) : image;
  const bool need_h = width != src.width || box[0] != 0 || box[2] != static_cast<float>(width);
  const bool need_v = height != src.height || box[1] != 0 || box[3] != static_cast<float>(height);

  Coeffs ch = precompute(src.width, box[0], box[2], width, filter);
  Coeffs cv = precompute(src.height, box[1], box[3], height, filter);
  const int ybox_first = cv.bounds[0];
  const int ybox_last = cv.bounds[(height - 1) * 2] + cv.bounds[(height - 1) * 2 + 1];

  Image cur = std::move(src);
  int shift = 0;
  if (need_h) {
    Image tmp(width, ybox_last - ybox_first, cur.channels);
    horizontal(cur, tmp, ybox_first, ch);
    cur = std::move(tmp);
    shift = ybox_first;
  }
  if (need_v) {
    Image out(cur.width, height, cur.channels);
    vertical(cur, out, cv, shift);
    cur = std::move(out);
  }
  if (alpha) unpremultiply(cur);
  return cur;
}

Image resample(const Image& image, int width, int height, ResampleFilter filter) {
  return resample(image, width, height, filter,
                  {0.f, 0.f, static_cast<float>(image.width), static_cast<float>(image.height)});
}

Image resize(const Image& image, int width, int height) {
  validate_image(image, "resize");
  if (image.width == width && image.height == height) return image;
  return resample(image, width, height, ResampleFilter::Lanczos);
}

Image resize_just(const Image& image, int width, int height) {
  return resize(image, width, height);
}

Image resize_crop(const Image& image, int width, int height) {
  validate_image(image, "resize (crop and resize)");
  check_size(width, height, "resize (crop and resize)");
  // Integer arithmetic as in A1111; the aspect comparison ratio > src_ratio done exactly by
  // cross-multiplying.
  const int64_t lhs = static_cast<int64_t>(width) * image.height,
                rhs = static_cast<int64_t>(image.width) * height;
  const int src_w =
      lhs > rhs ? width : static_cast<int>(static_cast<int64_t>(image.width) * height / image.height);
  const int src_h =
      lhs <= rhs ? height : static_cast<int>(static_cast<int64_t>(image.height) * width / image.width);
  Image resized = resize(image, src_w, src_h);
  Image out(width, height, image.channels);
  paste(out, resized, width / 2 - src_w / 2, height / 2 - src_h / 2);
  return out;
}

Image resize_fill(const Image& image, int width, int height) {
  validate_image(image, "resize (resize and fill)");
  check_size(width, height, "resize (resize and fill)");
  const int64_t lhs = static_cast<int64_t>(width) * image.height,
                rhs = static_cast<int64_t>(image.width) * height;
  // ratio < src_ratio  <=>  lhs < rhs
  const int src_w =
      lhs < rhs ? width : static_cast<int>(static_cast<int64_t>(image.width) * height / image.height);
  const int src_h =
      lhs >= rhs ? height : static_cast<int>(static_cast<int64_t>(image.height) * width / image.width);
  if (src_w <= 0 || src_h <= 0)
    throw Error("resize (resize and fill): the image is too thin to fit " + std::to_string(width) + "x" +
                std::to_string(height));
  Image resized = resize(image, src_w, src_h);
  Image out(width, height, image.channels);
  paste(out, resized, width / 2 - src_w / 2, height / 2 - src_h / 2);
  const auto rw = static_cast<float>(resized.width), rh = static_cast<float>(resized.height);
  if (lhs < rhs) {
    // Bands above and below, each PIL's (default BICUBIC) resize of a zero-height box at the top / bottom
    // edge.
    const int fill = height / 2 - src_h / 2;
    if (fill > 0) {
      paste(
          out,
          resample(resized, width, fill, ResampleFilter::Bicubic, {0.f, 0.f, static_cast<float>(width), 0.f}),
          0, 0);
      paste(out,
            resample(resized, width, fill, ResampleFilter::Bicubic, {0.f, rh, static_cast<float>(width), rh}),
            0, fill + src_h);
    }
  } else if (lhs > rhs) {
    const int fill = width / 2 - src_w / 2;
    if (fill > 0) {
      paste(out,
            resample(resized, fill, height, ResampleFilter::Bicubic,
                     {0.f, 0.f, 0.f, static_cast<float>(height)}),
            0, 0);
      paste(
          out,
          resample(resized, fill, height, ResampleFilter::Bicubic, {rw, 0.f, rw, static_cast<float>(height)}),
          fill + src_w, 0);
    }
  }
  return out;
}

Image resize_image(ResizeMode mode, const Image& image, int width, int height) {
  switch (mode) {
    case ResizeMode::JustResize:
      return resize_just(image, width, height);
    case ResizeMode::CropAndResize:
      return resize_crop(image, width, height);
    case ResizeMode::ResizeAndFill:
      return resize_fill(image, width, height);
  }
  throw Error("resize: unknown resize mode");
}

ResizeMode parse_resize_mode(const std::string& name) {
  std::string s;
  for (char c : name)
    s.push_back(c == '_' || c == '-' ? ' ' : static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  if (s == "just resize" || s == "0" || s == "stretch" || s == "resize") return ResizeMode::JustResize;
  if (s == "crop and resize" || s == "1" || s == "crop") return ResizeMode::CropAndResize;
  if (s == "resize and fill" || s == "2" || s == "fill") return ResizeMode::ResizeAndFill;
  throw Error("unknown resize mode '" + name +
              "' (use 'just resize', 'crop and resize' or 'resize and fill')");
}

}  // namespace i2i
