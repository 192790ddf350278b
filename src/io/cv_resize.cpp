// OpenCV's cv::resize, INTER_CUBIC and INTER_AREA (cv_resize.h).
#include "io/cv_resize.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

#include "core/error.h"

namespace i2i {

namespace {

constexpr int kCoefBits = 11;  // INTER_RESIZE_COEF_BITS
constexpr int kCoefScale = 1 << kCoefBits;

// interpolateCubic (A = -0.75), in float as OpenCV computes it.
void cubic_coefficients(float x, float* c) {
  const float A = -0.75f;
  c[0] = ((A * (x + 1) - 5 * A) * (x + 1) + 8 * A) * (x + 1) - 4 * A;
  c[1] = ((A + 2) * x - (A + 3)) * x * x + 1;
  c[2] = ((A + 2) * (1 - x) - (A + 3)) * (1 - x) * (1 - x) + 1;
  c[3] = 1.f - c[0] - c[1] - c[2];
}

// Per output index along one axis: the source index floor(fx) and the four cubic weights.
struct CubicAxis {
  std::vector<int> src;
  std::vector<float> coef;  // 4 per output index
};

CubicAxis cubic_axis(int in, int out) {
  const double scale = 1.0 / (static_cast<double>(out) / in);
  CubicAxis a;
  a.src.resize(static_cast<size_t>(out));
  a.coef.resize(static_cast<size_t>(out) * 4);
  for (int d = 0; d < out; ++d) {
    float f = static_cast<float>((d + 0.5) * scale - 0.5);
    const int s = static_cast<int>(std::floor(f));
    f -= static_cast<float>(s);
    a.src[static_cast<size_t>(d)] = s;
    cubic_coefficients(f, &a.coef[static_cast<size_t>(d) * 4]);
  }
  return a;
}

int clamp_index(int i, int n) {
  return std::min(std::max(i, 0), n - 1);
}

// saturate_cast<short>(float): round to nearest even, saturated.
int16_t round_to_short(float v) {
  const long r = std::lrint(v);
  return static_cast<int16_t>(std::min(std::max(r, -32768L), 32767L));
}

uint8_t saturate_u8(long v) {
  return static_cast<uint8_t>(std::min(std::max(v, 0L), 255L));
}

void check_sizes(int width, int height, int channels, int out_width, int out_height, const char* what) {
  check(width > 0 && height > 0 && channels >= 1 && channels <= 4 && out_width > 0 && out_height > 0 &&
            out_width <= kMaxImageSide && out_height <= kMaxImageSide,
        std::string(what) + ": cannot resize " + std::to_string(width) + "x" + std::to_string(height) +
            " to " + std::to_string(out_width) + "x" + std::to_string(out_height));
}

Image resize_cubic_u8(const Image& in, int dw, int dh) {
  const int cn = in.channels, sw = in.width, sh = in.height;
  const CubicAxis ax = cubic_axis(sw, dw), ay = cubic_axis(sh, dh);
  std::vector<int16_t> ialpha(ax.coef.size()), ibeta(ay.coef.size());
  for (size_t i = 0; i < ax.coef.size(); ++i) ialpha[i] = round_to_short(ax.coef[i] * kCoefScale);
  for (size_t i = 0; i < ay.coef.size(); ++i) ibeta[i] = round_to_short(ay.coef[i] * kCoefScale);
  const int row_len = dw * cn;
  // The horizontal pass of every source row (int, exact).
  std::vector<int> hrows(static_cast<size_t>(sh) * row_len);
  for (int y = 0; y < sh; ++y) {
    const uint8_t* s = in.row(y);
    int* d = &hrows[static_cast<size_t>(y) * row_len];
    for (int dx = 0; dx < dw; ++dx) {
      const int sx = ax.src[static_cast<size_t>(dx)];
      const int16_t* a = &ialpha[static_cast<size_t>(dx) * 4];
      for (int c = 0; c < cn; ++c) {
        int v = 0;
        for (int j = 0; j < 4; ++j) v += s[clamp_index(sx - 1 + j, sw) * cn + c] * a[j];
        d[dx * cn + c] = v;
      }
    }
  }
  Image out(dw, dh, cn);
  // OpenCV's VResizeCubicVec_32s8u handles groups of 8 values (one v_int16 of 128-bit SIMD) in float; the
  // remaining ones go through the integer FixedPtCast path.
  const int simd_end = row_len / 8 * 8;
  const float inv = 1.f / static_cast<float>(kCoefScale * kCoefScale);
  for (int dy = 0; dy < dh; ++dy) {
    const int sy = ay.src[static_cast<size_t>(dy)];
    const int16_t* b = &ibeta[static_cast<size_t>(dy) * 4];
    const int* r[4];
    for (int k = 0; k < 4; ++k) r[k] = &hrows[static_cast<size_t>(clamp_index(sy - 1 + k, sh)) * row_len];
    const float fb0 = b[0] * inv, fb1 = b[1] * inv, fb2 = b[2] * inv, fb3 = b[3] * inv;
    uint8_t* d = out.row(dy);
    for (int x = 0; x < simd_end; ++x) {
      float t = static_cast<float>(r[3][x]) * fb3;
      t = static_cast<float>(r[2][x]) * fb2 + t;
      t = static_cast<float>(r[1][x]) * fb1 + t;
      t = static_cast<float>(r[0][x]) * fb0 + t;
      d[x] = saturate_u8(std::lrint(t));
    }
    for (int x = simd_end; x < row_len; ++x) {
      const long v = static_cast<long>(r[0][x]) * b[0] + static_cast<long>(r[1][x]) * b[1] +
                     static_cast<long>(r[2][x]) * b[2] + static_cast<long>(r[3][x]) * b[3];
      d[x] = saturate_u8((v + (1L << (2 * kCoefBits - 1))) >> (2 * kCoefBits));
    }
  }
  return out;
}

// computeResizeAreaTab: (destination index, source index, weight) triples along one axis.
struct AreaTerm {
  int d, s;
  float alpha;
};

std::vector<AreaTerm> area_axis(int ssize, int dsize) {
  const double scale = 1.0 / (static_cast<double>(dsize) / ssize);
  std::vector<AreaTerm> tab;
  for (int dx = 0; dx < dsize; ++dx) {
    const double fsx1 = dx * scale, fsx2 = fsx1 + scale;
    const double cell = std::min(scale, ssize - fsx1);
    int sx1 = static_cast<int>(std::ceil(fsx1)), sx2 = static_cast<int>(std::floor(fsx2));
    sx2 = std::min(sx2, ssize - 1);
    sx1 = std::min(sx1, sx2);
    if (sx1 - fsx1 > 1e-3) tab.push_back({dx, sx1 - 1, static_cast<float>((sx1 - fsx1) / cell)});
    for (int sx = sx1; sx < sx2; ++sx) tab.push_back({dx, sx, static_cast<float>(1.0 / cell)});
    if (fsx2 - sx2 > 1e-3)
      tab.push_back({dx, sx2, static_cast<float>(std::min(std::min(fsx2 - sx2, 1.), cell) / cell)});
  }
  return tab;
}

Image resize_area_u8(const Image& in, int dw, int dh) {
  const int cn = in.channels, sw = in.width, sh = in.height;
  const double scale_x = 1.0 / (static_cast<double>(dw) / sw), scale_y = 1.0 / (static_cast<double>(dh) / sh);
  const int ix = static_cast<int>(std::lround(scale_x)), iy = static_cast<int>(std::lround(scale_y));
  Image out(dw, dh, cn);
  if (std::fabs(scale_x - ix) < 2.220446049250313e-16 && std::fabs(scale_y - iy) < 2.220446049250313e-16) {
    // resizeAreaFast_: the mean of each ix x iy block; OpenCV's SIMD path for 2x2 rounds (sum + 2) >> 2.
    const int area = ix * iy;
    const float inv = 1.f / static_cast<float>(area);
    for (int dy = 0; dy < dh; ++dy)
      for (int dx = 0; dx < dw; ++dx)
        for (int c = 0; c < cn; ++c) {
          int sum = 0;
          for (int y = 0; y < iy; ++y)
            for (int x = 0; x < ix; ++x) sum += in.at(dx * ix + x, dy * iy + y, c);
          out.at(dx, dy, c) = area == 4 && ix == 2 ? static_cast<uint8_t>((sum + 2) >> 2)
                                                   : saturate_u8(std::lrint(static_cast<float>(sum) * inv));
        }
    return out;
  }
  const std::vector<AreaTerm> xt = area_axis(sw, dw), yt = area_axis(sh, dh);
  const int row_len = dw * cn;
  std::vector<float> buf(static_cast<size_t>(row_len)), sum(static_cast<size_t>(row_len), 0.f);
  int prev_dy = yt.empty() ? 0 : yt[0].d;
  auto flush = [&](int dy) {
    uint8_t* d = out.row(dy);
    for (int x = 0; x < row_len; ++x) d[x] = saturate_u8(std::lrint(sum[static_cast<size_t>(x)]));
  };
  for (const AreaTerm& yterm : yt) {
    const uint8_t* s = in.row(yterm.s);
    std::fill(buf.begin(), buf.end(), 0.f);
    for (const AreaTerm& xterm : xt)
      for (int c = 0; c < cn; ++c)
        buf[static_cast<size_t>(xterm.d * cn + c)] += static_cast<float>(s[xterm.s * cn + c]) * xterm.alpha;
    if (yterm.d != prev_dy) {
      flush(prev_dy);
      for (int x = 0; x < row_len; ++x)
        sum[static_cast<size_t>(x)] = yterm.alpha * buf[static_cast<size_t>(x)];
      prev_dy = yterm.d;
    } else {
      for (int x = 0; x < row_len; ++x)
        sum[static_cast<size_t>(x)] += yterm.alpha * buf[static_cast<size_t>(x)];
    }
  }
  flush(prev_dy);
  return out;
}

}  // namespace

Image cv_resize(const Image& image, int width, int height, CvInterpolation interpolation) {
  validate_image(image, "cv_resize");
  check_sizes(image.width, image.height, image.channels, width, height, "cv_resize");
  if (width == image.width && height == image.height) return image;
  if (interpolation == CvInterpolation::Cubic) return resize_cubic_u8(image, width, height);
  check(width <= image.width && height <= image.height,
        "cv_resize: INTER_AREA enlarging " + std::to_string(image.width) + "x" +
            std::to_string(image.height) + " to " + std::to_string(width) + "x" + std::to_string(height) +
            " is not supported");
  return resize_area_u8(image, width, height);
}

std::vector<double> cv_resize_cubic(const std::vector<double>& pixels, int width, int height, int channels,
                                    int out_width, int out_height) {
  check_sizes(width, height, channels, out_width, out_height, "cv_resize_cubic");
  const int cn = channels;
  check(pixels.size() == static_cast<size_t>(width) * height * cn, "cv_resize_cubic: wrong pixel count");
  if (out_width == width && out_height == height) return pixels;
  const CubicAxis ax = cubic_axis(width, out_width), ay = cubic_axis(height, out_height);
  const int row_len = out_width * cn;
  // HResizeCubic<double, double, float>: double sums of double x float products, left to right.
  std::vector<double> hrows(static_cast<size_t>(height) * row_len);
  for (int y = 0; y < height; ++y) {
    const double* s = &pixels[static_cast<size_t>(y) * width * cn];
    double* d = &hrows[static_cast<size_t>(y) * row_len];
    for (int dx = 0; dx < out_width; ++dx) {
      const int sx = ax.src[static_cast<size_t>(dx)];
      const float* a = &ax.coef[static_cast<size_t>(dx) * 4];
      for (int c = 0; c < cn; ++c) {
        double v = s[clamp_index(sx - 1, width) * cn + c] * a[0];
        for (int j = 1; j < 4; ++j) v = v + s[clamp_index(sx - 1 + j, width) * cn + c] * a[j];
        d[dx * cn + c] = v;
      }
    }
  }
  std::vector<double> out(static_cast<size_t>(out_height) * row_len);
  for (int dy = 0; dy < out_height; ++dy) {
    const int sy = ay.src[static_cast<size_t>(dy)];
    const float* b = &ay.coef[static_cast<size_t>(dy) * 4];
    const double* r[4];
    for (int k = 0; k < 4; ++k) r[k] = &hrows[static_cast<size_t>(clamp_index(sy - 1 + k, height)) * row_len];
    double* d = &out[static_cast<size_t>(dy) * row_len];
    for (int x = 0; x < row_len; ++x)
      d[x] = r[0][x] * b[0] + r[1][x] * b[1] + r[2][x] * b[2] + r[3][x] * b[3];
  }
  return out;
}

}  // namespace i2i
