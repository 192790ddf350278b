#include "preprocess/opencv_resize.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <string>

#include "core/error.h"

namespace i2i {

namespace {

constexpr int kCoefBits = 11;  // INTER_RESIZE_COEF_BITS
constexpr int kCoefScale = 1 << kCoefBits;

// cvRound: to nearest, ties to even (the SSE conversion OpenCV uses).
int cv_round(double v) {
  return static_cast<int>(std::lrint(v));
}

uint8_t saturate_u8(int v) {
  return static_cast<uint8_t>(std::clamp(v, 0, 255));
}

int16_t saturate_s16(float v) {
  return static_cast<int16_t>(std::clamp(cv_round(v), -32768, 32767));
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
      t.iw[static_cast<size_t>(d) * t.k + j] = saturate_s16(c[j] * kCoefScale);
    }
  }
  return t;
}

int clamp_index(int i, int n) {
  return std::clamp(i, 0, n - 1);
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

// resizeAreaFast: integer shrink factors along both axes; whole cells only (the size divides exactly).
Image resize_area_fast(const Image& src, int width, int height, int sx, int sy) {
  const int cn = src.channels;
  Image out(width, height, cn);
  const bool fast2 = sx == 2 && sy == 2 && (cn == 1 || cn == 3 || cn == 4);
  const float scale = 1.f / static_cast<float>(sx * sy);
#pragma omp parallel for schedule(static)
  for (int y = 0; y < height; ++y) {
    uint8_t* o = out.row(y);
    for (int x = 0; x < width; ++x)
      for (int c = 0; c < cn; ++c) {
        int sum = 0;
        for (int j = 0; j < sy; ++j) {
          const uint8_t* s = src.row(y * sy + j);
          for (int i = 0; i < sx; ++i) sum += s[(x * sx + i) * cn + c];
        }
        // The 2x2 vector path rounds half up, the generic one to even.
        o[x * cn + c] = fast2 ? static_cast<uint8_t>((sum + 2) >> 2)
                              : saturate_u8(cv_round(static_cast<float>(sum) * scale));
      }
  }
  return out;
}

struct AreaTap {
  int d, s;
  float alpha;
};

// computeResizeAreaTab: the source cells overlapping each destination cell and their weights.
std::vector<AreaTap> area_taps(int src, int dst, double scale) {
  std::vector<AreaTap> tab;
  for (int d = 0; d < dst; ++d) {
    const double fs1 = d * scale, fs2 = fs1 + scale;
    const double cell = std::min(scale, src - fs1);
    int s1 = static_cast<int>(std::ceil(fs1)), s2 = static_cast<int>(std::floor(fs2));
    s2 = std::min(s2, src - 1);
    s1 = std::min(s1, s2);
    if (s1 - fs1 > 1e-3) tab.push_back({d, s1 - 1, static_cast<float>((s1 - fs1) / cell)});
    for (int s = s1; s < s2; ++s) tab.push_back({d, s, static_cast<float>(1.0 / cell)});
    if (fs2 - s2 > 1e-3)
      tab.push_back({d, s2, static_cast<float>(std::min(std::min(fs2 - s2, 1.), cell) / cell)});
  }
  return tab;
}

// ResizeArea_Invoker (WT = float): per destination row, the weighted source rows' horizontal sums.
Image resize_area(const Image& src, int width, int height, double scale_x, double scale_y) {
  const int cn = src.channels;
  const std::vector<AreaTap> xt = area_taps(src.width, width, scale_x);
  const std::vector<AreaTap> yt = area_taps(src.height, height, scale_y);
  std::vector<size_t> row_start(static_cast<size_t>(height) + 1, yt.size());
  for (size_t k = yt.size(); k-- > 0;) row_start[yt[k].d] = k;
  Image out(width, height, cn);
  const int row_len = width * cn;
#pragma omp parallel for schedule(static)
  for (int y = 0; y < height; ++y) {
    std::vector<float> buf(row_len), sum(row_len, 0.f);
    for (size_t k = row_start[y]; k < yt.size() && yt[k].d == y; ++k) {
      const uint8_t* s = src.row(yt[k].s);
      std::fill(buf.begin(), buf.end(), 0.f);
      for (const AreaTap& t : xt)
        for (int c = 0; c < cn; ++c) buf[t.d * cn + c] = buf[t.d * cn + c] + s[t.s * cn + c] * t.alpha;
      const float beta = yt[k].alpha;
      for (int x = 0; x < row_len; ++x) sum[x] += beta * buf[x];
    }
    uint8_t* o = out.row(y);
    for (int x = 0; x < row_len; ++x) o[x] = saturate_u8(cv_round(sum[x]));
  }
  return out;
}

void check_size(int width, int height, const char* what) {
  check(width >= 1 && height >= 1 && width <= kMaxImageSide && height <= kMaxImageSide,
        std::string(what) + ": bad target size " + std::to_string(width) + "x" + std::to_string(height));
}

}  // namespace

Image cv_resize(const Image& image, int width, int height, CvInterpolation interpolation) {
  validate_image(image, "resize");
  check_size(width, height, "resize");
  if (width == image.width && height == image.height) return image;
  const double inv_x = static_cast<double>(width) / image.width;
  const double inv_y = static_cast<double>(height) / image.height;
  const double scale_x = 1. / inv_x, scale_y = 1. / inv_y;
  const int iscale_x = cv_round(scale_x), iscale_y = cv_round(scale_y);
  const bool area_fast =
      std::abs(scale_x - iscale_x) < DBL_EPSILON && std::abs(scale_y - iscale_y) < DBL_EPSILON;
  if (interpolation == CvInterpolation::Linear && area_fast && iscale_x == 2 && iscale_y == 2)
    interpolation = CvInterpolation::Area;
  if (interpolation == CvInterpolation::Area && scale_x >= 1 && scale_y >= 1) {
    if (area_fast) return resize_area_fast(image, width, height, iscale_x, iscale_y);
    return resize_area(image, width, height, scale_x, scale_y);
  }
  return resize_separable(image, width, height, scale_x, scale_y, inv_x, inv_y,
                          interpolation == CvInterpolation::Lanczos4, interpolation == CvInterpolation::Area);
}

std::vector<float> cv_resize_linear(const std::vector<float>& plane, int src_width, int src_height, int width,
                                    int height) {
  check(src_width >= 1 && src_height >= 1 &&
            plane.size() == static_cast<size_t>(src_width) * static_cast<size_t>(src_height),
        "resize: bad float plane");
  check_size(width, height, "resize");
  if (width == src_width && height == src_height) return plane;
  const double inv_x = static_cast<double>(width) / src_width,
               inv_y = static_cast<double>(height) / src_height;
  if (inv_x == 0.5 && inv_y == 0.5) {
    // An exact 2x shrink is INTER_AREA's resizeAreaFast: (a + b) + (c + d) in the 4-wide vector loop,
    // ((a + b) + c) + d after it, times 0.25.
    std::vector<float> out(static_cast<size_t>(width) * height);
    const int vec = width / 4 * 4;
    for (int y = 0; y < height; ++y) {
      const float* r0 = &plane[static_cast<size_t>(2 * y) * src_width];
      const float* r1 = r0 + src_width;
      float* o = &out[static_cast<size_t>(y) * width];
      for (int x = 0; x < width; ++x) {
        const float a = r0[2 * x], b = r0[2 * x + 1], c = r1[2 * x], d = r1[2 * x + 1];
        o[x] = (x < vec ? (a + b) + (c + d) : ((a + b) + c) + d) * 0.25f;
      }
    }
    return out;
  }
  const AxisTaps tx = axis_taps(src_width, width, 1. / inv_x, inv_x, false, false, true);
  const AxisTaps ty = axis_taps(src_height, height, 1. / inv_y, inv_y, false, false, false);
  std::vector<float> rows(static_cast<size_t>(src_height) * width);
  for (int y = 0; y < src_height; ++y) {
    const float* s = &plane[static_cast<size_t>(y) * src_width];
    float* o = &rows[static_cast<size_t>(y) * width];
    for (int x = 0; x < width; ++x) {
      const int f = tx.first[x];
      const float a = s[clamp_index(f, src_width)] * tx.w[2 * x];
      const float b = s[clamp_index(f + 1, src_width)] * tx.w[2 * x + 1];
      o[x] = a + b;
    }
  }
  std::vector<float> out(static_cast<size_t>(width) * height);
  for (int y = 0; y < height; ++y) {
    const int f = ty.first[y];
    const float* r0 = &rows[static_cast<size_t>(clamp_index(f, src_height)) * width];
    const float* r1 = &rows[static_cast<size_t>(clamp_index(f + 1, src_height)) * width];
    const float b0 = ty.w[2 * y], b1 = ty.w[2 * y + 1];
    float* o = &out[static_cast<size_t>(y) * width];
    for (int x = 0; x < width; ++x) {
      const float a = r0[x] * b0;
      const float b = r1[x] * b1;
      o[x] = a + b;
    }
  }
  return out;
}

}  // namespace i2i
