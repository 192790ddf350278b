// OpenCV's cv::resize: INTER_CUBIC, INTER_AREA, INTER_LINEAR and INTER_LANCZOS4 (cv_resize.h).
#include "io/cv_resize.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>

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

// resizeArea_: a fractional shrink of both axes, float weights and float sums per destination row, then
// saturate_cast (8-bit: rounded to nearest even; float: as is).
template <typename T>
void area_fractional(const T* src, int sw, int sh, int cn, T* dst, int dw, int dh) {
  const std::vector<AreaTerm> xt = area_axis(sw, dw), yt = area_axis(sh, dh);
  const int row_len = dw * cn;
  std::vector<float> buf(static_cast<size_t>(row_len)), sum(static_cast<size_t>(row_len), 0.f);
  int prev_dy = yt.empty() ? 0 : yt[0].d;
  auto flush = [&](int dy) {
    T* d = dst + static_cast<size_t>(dy) * row_len;
    for (int x = 0; x < row_len; ++x) {
      if constexpr (std::is_same_v<T, uint8_t>) {
        d[x] = saturate_u8(std::lrint(sum[static_cast<size_t>(x)]));
      } else {
        d[x] = sum[static_cast<size_t>(x)];
      }
    }
  };
  for (const AreaTerm& yterm : yt) {
    const T* s = src + static_cast<size_t>(yterm.s) * sw * cn;
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
}

Image resize_area_u8(const Image& in, int dw, int dh) {
  const int cn = in.channels, sw = in.width, sh = in.height;
  const double scale_x = 1.0 / (static_cast<double>(dw) / sw), scale_y = 1.0 / (static_cast<double>(dh) / sh);
  const int ix = static_cast<int>(std::lround(scale_x)), iy = static_cast<int>(std::lround(scale_y));
  Image out(dw, dh, cn);
  if (std::fabs(scale_x - ix) < 2.220446049250313e-16 && std::fabs(scale_y - iy) < 2.220446049250313e-16) {
    // resizeAreaFast_: the mean of each ix x iy block; OpenCV's SIMD path for 2x2 rounds (sum + 2) >> 2
    const int area = ix * iy;
    // (only for 1, 3 and 4 channels; 2 channels take the generic cvRound path)
    const bool fast2x2 = ix == 2 && iy == 2 && cn != 2;
    const float inv = 1.f / static_cast<float>(area);
    for (int dy = 0; dy < dh; ++dy)
      for (int dx = 0; dx < dw; ++dx)
        for (int c = 0; c < cn; ++c) {
          int sum = 0;
          for (int y = 0; y < iy; ++y)
            for (int x = 0; x < ix; ++x) sum += in.at(dx * ix + x, dy * iy + y, c);
          out.at(dx, dy, c) = fast2x2 ? static_cast<uint8_t>((sum + 2) >> 2)
                                      : saturate_u8(std::lrint(static_cast<float>(sum) * inv));
        }
    return out;
  }
  area_fractional(in.pixels.data(), sw, sh, cn, out.pixels.data(), dw, dh);
  return out;
}

// ---- INTER_LINEAR and INTER_LANCZOS4 (and INTER_AREA's bilinear emulation when an axis grows) ----

// cvRound: to nearest, ties to even.
int cv_round(double v) {
  return static_cast<int>(std::lrint(v));
}

// OpenCV's interpolateLanczos4: the 8 weights for a fractional offset x in [0, 1), normalised in float.
void lanczos4_weights(float x, float* coeffs) {
  static const double s45 = 0.70710678118654752440084436210485;
  static const double cs[8][2] = {{1, 0},  {-s45, -s45}, {0, 1},  {s45, -s45},
                                  {-1, 0}, {s45, s45},   {0, -1}, {-s45, s45}};
  constexpr double kPi = 3.1415926535897932384626433832795;
  float sum = 0;
  const double y0 = -(x + 3) * kPi * 0.25, s0 = std::sin(y0), c0 = std::cos(y0);
  for (int i = 0; i < 8; ++i) {
    const float y0i = x + 3 - static_cast<float>(i);
    if (std::fabs(y0i) >= 1e-6f) {
      const double y = -y0i * kPi * 0.25;
      coeffs[i] = static_cast<float>((cs[i][0] * s0 + cs[i][1] * c0) / (y * y));
    } else {
      coeffs[i] = 1e30f;
    }
    sum += coeffs[i];
  }
  sum = 1.f / sum;
  for (int i = 0; i < 8; ++i) coeffs[i] *= sum;
}

// One axis of the separable interpolation: for destination index d, taps first[d] .. first[d] + k - 1 (to be
// clamped to the source) with weights w[d * k ..].
struct AxisTaps {
  int k = 0;
  std::vector<int> first;
  std::vector<float> w;     // float weights (float images)
  std::vector<int16_t> iw;  // fixed-point weights (8-bit images)
};

// OpenCV's coefficient tables (hal::resize): the source position of destination index d, its integer part
// and fraction, the linear / Lanczos weights. `area_mode`: INTER_AREA's bilinear emulation when an axis
// grows. `horizontal`: OpenCV moves linear positions before the first / after the last pixel onto it
// (fraction 0) only along x; along y the rows are clamped but the weights kept (which the fixed-point
// rounding sees).
AxisTaps axis_taps(int src, int dst, double scale, double inv_scale, bool lanczos, bool area_mode,
                   bool horizontal) {
  AxisTaps t;
  t.k = lanczos ? 8 : 2;
  const int half = t.k / 2;
  t.first.resize(dst);
  t.w.resize(static_cast<size_t>(dst) * t.k);
  t.iw.resize(t.w.size());
  for (int d = 0; d < dst; ++d) {
    float f;
    int s;
    if (!area_mode) {
      f = static_cast<float>((d + 0.5) * scale - 0.5);
      s = static_cast<int>(std::floor(f));
      f -= static_cast<float>(s);
    } else {
      s = static_cast<int>(std::floor(d * scale));
      f = static_cast<float>((d + 1) - (s + 1) * inv_scale);
      f = f <= 0 ? 0.f : f - std::floor(f);
    }
    if (!lanczos && horizontal) {
      if (s < 0) f = 0, s = 0;
      if (s >= src - 1) f = 0, s = src - 1;
    }
    float c[8];
    if (lanczos) {
      lanczos4_weights(f, c);
    } else {
      c[0] = 1.f - f;
      c[1] = f;
    }
    t.first[d] = s - half + 1;
    for (int j = 0; j < t.k; ++j) {
      t.w[static_cast<size_t>(d) * t.k + j] = c[j];
      t.iw[static_cast<size_t>(d) * t.k + j] = round_to_short(c[j] * kCoefScale);
    }
  }
  return t;
}

// The horizontal pass of one 8-bit source row into fixed-point sums (one per destination element).
void hresize_u8(const uint8_t* row, int src_w, int cn, const AxisTaps& tx, int32_t* out) {
  const int dst_w = static_cast<int>(tx.first.size());
  for (int d = 0; d < dst_w; ++d) {
    const int16_t* w = &tx.iw[static_cast<size_t>(d) * tx.k];
    for (int c = 0; c < cn; ++c) {
      int32_t v = 0;
      for (int j = 0; j < tx.k; ++j) v += row[clamp_index(tx.first[d] + j, src_w) * cn + c] * w[j];
      out[d * cn + c] = v;
    }
  }
}

int16_t pack_s16(int32_t v) {
  return static_cast<int16_t>(std::clamp(v, -32768, 32767));
}

// v_mul_hi on int16 lanes: the high half of the 32-bit product.
int32_t mul_hi(int16_t a, int16_t b) {
  return (static_cast<int32_t>(a) * b) >> 16;
}

Image resize_separable(const Image& src, int width, int height, double scale_x, double scale_y, double inv_x,
                       double inv_y, bool lanczos, bool area_mode) {
  const int cn = src.channels;
  const AxisTaps tx = axis_taps(src.width, width, scale_x, inv_x, lanczos, area_mode, true);
  const AxisTaps ty = axis_taps(src.height, height, scale_y, inv_y, lanczos, area_mode, false);
  const int row_len = width * cn;
  // Every source row through the horizontal pass (the vertical taps read them clamped).
  std::vector<int32_t> rows(static_cast<size_t>(src.height) * row_len);
#pragma omp parallel for schedule(static)
  for (int y = 0; y < src.height; ++y)
    hresize_u8(src.row(y), src.width, cn, tx, &rows[static_cast<size_t>(y) * row_len]);
  Image out(width, height, cn);
#pragma omp parallel for schedule(static)
  for (int d = 0; d < height; ++d) {
    const int16_t* b = &ty.iw[static_cast<size_t>(d) * ty.k];
    const int32_t* r[8];
    for (int j = 0; j < ty.k; ++j)
      r[j] = &rows[static_cast<size_t>(clamp_index(ty.first[d] + j, src.height)) * row_len];
    uint8_t* o = out.row(d);
    if (!lanczos) {
      // VResizeLinearVec_32s8u: the sums scaled down to int16 lanes, multiplied keeping the high halves,
      // rounded by 2 bits. Its scalar tail ((v + 2^21) >> 22, rounding differently) is never reached:
      // OpenCV 4.6 (Debian's build, 6800 random sizes and channel counts) matches this formula on every
      // element.
      for (int x = 0; x < row_len; ++x) {
        const int32_t v = mul_hi(pack_s16(r[0][x] >> 4), b[0]) + mul_hi(pack_s16(r[1][x] >> 4), b[1]);
        o[x] = saturate_u8((v + 2) >> 2);
      }
    } else {
      for (int x = 0; x < row_len; ++x) {
        // int32 arithmetic as OpenCV's (wrapping, although the real weights never get there).
        uint32_t v = 0;
        for (int j = 0; j < 8; ++j) v += static_cast<uint32_t>(static_cast<int64_t>(r[j][x]) * b[j]);
        const int32_t s = static_cast<int32_t>(v);
        o[x] = saturate_u8((s + (1 << (2 * kCoefBits - 1))) >> (2 * kCoefBits));
      }
    }
  }
  return out;
}

}  // namespace

Image cv_resize(const Image& image, int width, int height, CvInterpolation interpolation) {
  validate_image(image, "cv_resize");
  check_sizes(image.width, image.height, image.channels, width, height, "cv_resize");
  if (width == image.width && height == image.height) return image;
  if (interpolation == CvInterpolation::Cubic) return resize_cubic_u8(image, width, height);
  const double inv_x = static_cast<double>(width) / image.width;
  const double inv_y = static_cast<double>(height) / image.height;
  const double scale_x = 1. / inv_x, scale_y = 1. / inv_y;
  const int ix = cv_round(scale_x), iy = cv_round(scale_y);
  // An exact 2x bilinear shrink is INTER_AREA in OpenCV.
  if (interpolation == CvInterpolation::Linear && ix == 2 && iy == 2 &&
      std::fabs(scale_x - ix) < DBL_EPSILON && std::fabs(scale_y - iy) < DBL_EPSILON)
    interpolation = CvInterpolation::Area;
  if (interpolation == CvInterpolation::Area && scale_x >= 1 && scale_y >= 1)
    return resize_area_u8(image, width, height);
  return resize_separable(image, width, height, scale_x, scale_y, inv_x, inv_y,
                          interpolation == CvInterpolation::Lanczos4, interpolation == CvInterpolation::Area);
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

PlaneF32 cv_resize(const PlaneF32& plane, int width, int height, CvInterpolation interpolation) {
  const int sw = plane.width, sh = plane.height;
  check(
      sw >= 1 && sh >= 1 && plane.values.size() == static_cast<size_t>(sw) * static_cast<size_t>(sh),
      "cv_resize: wrong value count for a " + std::to_string(sw) + "x" + std::to_string(sh) + " float plane");
  check_sizes(sw, sh, 1, width, height, "cv_resize");
  check(interpolation != CvInterpolation::Cubic, "cv_resize: INTER_CUBIC is not supported on float32 planes");
  if (width == sw && height == sh) return plane;
  const double inv_x = static_cast<double>(width) / sw, inv_y = static_cast<double>(height) / sh;
  const double scale_x = 1. / inv_x, scale_y = 1. / inv_y;
  const int ix = cv_round(scale_x), iy = cv_round(scale_y);
  const bool integer_factors = std::fabs(scale_x - ix) < DBL_EPSILON && std::fabs(scale_y - iy) < DBL_EPSILON;
  // An exact 2x bilinear shrink is INTER_AREA in OpenCV.
  if (interpolation == CvInterpolation::Linear && integer_factors && ix == 2 && iy == 2)
    interpolation = CvInterpolation::Area;
  PlaneF32 out{width, height, std::vector<float>(static_cast<size_t>(width) * height)};
  const float* src = plane.values.data();
  float* dst = out.values.data();
  if (interpolation == CvInterpolation::Area && scale_x >= 1 && scale_y >= 1) {
    if (!integer_factors) {
      area_fractional(src, sw, sh, 1, dst, width, height);
      return out;
    }
    // resizeAreaFast_. 2x2: (a + b) + (c + d) in ResizeAreaFastVec_SIMD_32f's 4-wide loop; the rest of a
    // row, and other factors, sum block values left to right, 4 at a time, times 1 / area.
    const int vec = ix == 2 && iy == 2 ? width / 4 * 4 : 0;
    const int area = ix * iy;
    const float inv = 1.f / static_cast<float>(area);
    std::vector<float> block(static_cast<size_t>(area));
    for (int y = 0; y < height; ++y)
      for (int x = 0; x < width; ++x) {
        for (int by = 0; by < iy; ++by)
          for (int bx = 0; bx < ix; ++bx)
            block[static_cast<size_t>(by * ix + bx)] =
                src[static_cast<size_t>(y * iy + by) * sw + static_cast<size_t>(x * ix + bx)];
        float v;
        if (x < vec) {
          v = (block[0] + block[1]) + (block[2] + block[3]);
        } else {
          v = 0;
          int k = 0;
          for (; k <= area - 4; k += 4) v += block[k] + block[k + 1] + block[k + 2] + block[k + 3];
          for (; k < area; ++k) v += block[k];
        }
        dst[static_cast<size_t>(y) * width + x] = v * inv;
      }
    return out;
  }
  // resizeGeneric_: HResizeLinear / HResizeLanczos4 on every source row, then VResizeLinear /
  // VResizeLanczos4 over the rows clamped to the plane.
  const bool lanczos = interpolation == CvInterpolation::Lanczos4;
  const bool area_mode = interpolation == CvInterpolation::Area;
  const AxisTaps tx = axis_taps(sw, width, scale_x, inv_x, lanczos, area_mode, true);
  const AxisTaps ty = axis_taps(sh, height, scale_y, inv_y, lanczos, area_mode, false);
  std::vector<float> rows(static_cast<size_t>(sh) * width);
  for (int y = 0; y < sh; ++y) {
    const float* s = src + static_cast<size_t>(y) * sw;
    float* o = &rows[static_cast<size_t>(y) * width];
    for (int x = 0; x < width; ++x) {
      const int f = tx.first[x];
      const float* w = &tx.w[static_cast<size_t>(x) * tx.k];
      float v;
      if (f >= 0 && f + tx.k <= sw) {  // all taps inside the row: no clamping
        v = s[f] * w[0];
        for (int j = 1; j < tx.k; ++j) v += s[f + j] * w[j];
      } else {
        v = s[clamp_index(f, sw)] * w[0];
        for (int j = 1; j < tx.k; ++j) v += s[clamp_index(f + j, sw)] * w[j];
      }
      o[x] = v;
    }
  }
  // Vertical pass tap by tap over whole rows (each pixel still sums its products in tap order, the same
  // operations as one pixel at a time, so the same bits), which the compiler vectorises.
  for (int y = 0; y < height; ++y) {
    const float* b = &ty.w[static_cast<size_t>(y) * ty.k];
    float* o = dst + static_cast<size_t>(y) * width;
    const float* r0 = &rows[static_cast<size_t>(clamp_index(ty.first[y], sh)) * width];
    for (int x = 0; x < width; ++x) o[x] = r0[x] * b[0];
    for (int j = 1; j < ty.k; ++j) {
      const float* rj = &rows[static_cast<size_t>(clamp_index(ty.first[y] + j, sh)) * width];
      const float bj = b[j];
      for (int x = 0; x < width; ++x) o[x] += rj[x] * bj;
    }
  }
  return out;
}

std::vector<float> cv_resize_linear(const std::vector<float>& plane, int src_width, int src_height, int width,
                                    int height) {
  check(src_width >= 1 && src_height >= 1 &&
            plane.size() == static_cast<size_t>(src_width) * static_cast<size_t>(src_height),
        "cv_resize_linear: wrong value count");
  return cv_resize(PlaneF32{src_width, src_height, plane}, width, height, CvInterpolation::Linear).values;
}

}  // namespace i2i
