#include "preprocess/openpose_resize.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "core/error.h"

namespace i2i {

namespace {

constexpr int kCoefBits = 11;  // OpenCV's INTER_RESIZE_COEF_BITS
constexpr int kCoefScale = 1 << kCoefBits;
constexpr double kPi = 3.1415926535897932384626433832795;

// cvRound / cvFloor: round to nearest even (the FPU's default mode), floor.
int cv_round(double v) {
  return static_cast<int>(std::lrint(v));
}
int cv_round(float v) {
  return static_cast<int>(std::lrint(v));
}
int cv_floor(double v) {
  return static_cast<int>(std::floor(v));
}
int cv_ceil(double v) {
  return static_cast<int>(std::ceil(v));
}

uint8_t saturate_u8(int v) {
  return static_cast<uint8_t>(std::clamp(v, 0, 255));
}
int16_t saturate_s16(float v) {
  return static_cast<int16_t>(std::clamp(cv_round(v), -32768, 32767));
}

// saturate_cast<T>(float) for the area paths' float sums.
template <typename T>
T cast_from_float(float v) {
  if constexpr (std::is_same_v<T, uint8_t>) {
    return saturate_u8(cv_round(v));
  } else {
    return v;
  }
}

// interpolateLanczos4: the 8 weights of a windowed sinc (a = 4) at fraction x, normalised in float.
void lanczos4_coeffs(float x, float* c) {
  static const double s45 = 0.70710678118654752440084436210485;
  static const double cs[8][2] = {{1, 0},  {-s45, -s45}, {0, 1},  {s45, -s45},
                                  {-1, 0}, {s45, s45},   {0, -1}, {-s45, s45}};
  if (x < FLT_EPSILON) {
    for (int i = 0; i < 8; ++i) c[i] = 0;
    c[3] = 1;
    return;
  }
  float sum = 0;
  const double y0 = -(x + 3) * kPi * 0.25, s0 = std::sin(y0), c0 = std::cos(y0);
  for (int i = 0; i < 8; ++i) {
    const double y = -(x + 3 - i) * kPi * 0.25;
    c[i] = static_cast<float>((cs[i][0] * s0 + cs[i][1] * c0) / (y * y));
    sum += c[i];
  }
  sum = 1.f / sum;
  for (int i = 0; i < 8; ++i) c[i] *= sum;
}

// The separable kernels (Linear, Lanczos4, and Area when it enlarges): resizeGeneric_ with OpenCV's tables.
template <typename T>
void resize_generic(const T* src, int sw, int sh, int cn, T* dst, int dw, int dh, OpencvInterpolation interp,
                    double inv_scale_x, double inv_scale_y) {
  constexpr bool fixpt = std::is_same_v<T, uint8_t>;
  using WT = std::conditional_t<fixpt, int32_t, float>;  // horizontal pass output
  const double scale_x = 1. / inv_scale_x, scale_y = 1. / inv_scale_y;
  const bool area_mode = interp == OpencvInterpolation::Area;
  const int ksize = interp == OpencvInterpolation::Lanczos4 ? 8 : 2, ksize2 = ksize / 2;
  const bool lanczos = interp == OpencvInterpolation::Lanczos4;
  const int width = dw * cn;

  std::vector<int> xofs(width), yofs(dh);
  std::vector<float> alpha(static_cast<size_t>(width) * ksize), beta(static_cast<size_t>(dh) * ksize);
  std::vector<int16_t> ialpha(alpha.size()), ibeta(beta.size());
  int xmin = 0, xmax = dw;
  float cbuf[8] = {0};

  for (int dx = 0; dx < dw; ++dx) {
    float fx;
    int sx;
    if (!area_mode) {
      fx = static_cast<float>((dx + 0.5) * scale_x - 0.5);
      sx = cv_floor(fx);
      fx -= sx;
    } else {
      sx = cv_floor(dx * scale_x);
      fx = static_cast<float>((dx + 1) - (sx + 1) * inv_scale_x);
      fx = fx <= 0 ? 0.f : fx - cv_floor(fx);
    }
    if (sx < ksize2 - 1) {
      xmin = dx + 1;
      if (sx < 0 && !lanczos) fx = 0, sx = 0;
    }
    if (sx + ksize2 >= sw) {
      xmax = std::min(xmax, dx);
      if (sx >= sw - 1 && !lanczos) fx = 0, sx = sw - 1;
    }
    for (int k = 0; k < cn; ++k) xofs[dx * cn + k] = sx * cn + k;
    if (lanczos) {
      lanczos4_coeffs(fx, cbuf);
    } else {
      cbuf[0] = 1.f - fx;
      cbuf[1] = fx;
    }
    for (int c = 0; c < cn; ++c)
      for (int k = 0; k < ksize; ++k) {
        const size_t i = (static_cast<size_t>(dx) * cn + c) * ksize + k;
        alpha[i] = cbuf[k];
        ialpha[i] = saturate_s16(cbuf[k] * kCoefScale);
      }
  }
  for (int dy = 0; dy < dh; ++dy) {
    float fy;
    int sy;
    if (!area_mode) {
      fy = static_cast<float>((dy + 0.5) * scale_y - 0.5);
      sy = cv_floor(fy);
      fy -= sy;
    } else {
      sy = cv_floor(dy * scale_y);
      fy = static_cast<float>((dy + 1) - (sy + 1) * inv_scale_y);
      fy = fy <= 0 ? 0.f : fy - cv_floor(fy);
    }
    yofs[dy] = sy;
    if (lanczos) {
      lanczos4_coeffs(fy, cbuf);
    } else {
      cbuf[0] = 1.f - fy;
      cbuf[1] = fy;
    }
    for (int k = 0; k < ksize; ++k) {
      beta[static_cast<size_t>(dy) * ksize + k] = cbuf[k];
      ibeta[static_cast<size_t>(dy) * ksize + k] = saturate_s16(cbuf[k] * kCoefScale);
    }
  }
  const int swidth = sw * cn;
  xmin *= cn;
  xmax *= cn;

  // Horizontal pass of every source row (HResizeLinear / HResizeLanczos4).
  std::vector<WT> rows(static_cast<size_t>(sh) * width);
  for (int y = 0; y < sh; ++y) {
    const T* S = src + static_cast<size_t>(y) * swidth;
    WT* D = rows.data() + static_cast<size_t>(y) * width;
    for (int dx = 0; dx < width; ++dx) {
      const int sx = xofs[dx];
      if (!lanczos) {
        if (dx < xmax) {
          if constexpr (fixpt) {
            const int16_t* a = &ialpha[static_cast<size_t>(dx) * 2];
            D[dx] = S[sx] * a[0] + S[sx + cn] * a[1];
          } else {
            const float* a = &alpha[static_cast<size_t>(dx) * 2];
            D[dx] = S[sx] * a[0] + S[sx + cn] * a[1];
          }
        } else {
          D[dx] = fixpt ? static_cast<WT>(S[sx] * kCoefScale) : static_cast<WT>(S[sx]);
        }
        continue;
      }
      WT v = 0;
      const int s0 = sx - cn * 3;
      for (int j = 0; j < 8; ++j) {
        int sxj = s0 + j * cn;
        if (dx < xmin || dx >= xmax) {  // replicated border
          while (sxj < 0) sxj += cn;
          while (sxj >= swidth) sxj -= cn;
        }
        if constexpr (fixpt) {
          v += S[sxj] * ialpha[static_cast<size_t>(dx) * 8 + j];
        } else {
          v += S[sxj] * alpha[static_cast<size_t>(dx) * 8 + j];
        }
      }
      D[dx] = v;
    }
  }

  // Vertical pass (VResizeLinear / VResizeLanczos4) over rows clipped to the image.
  const WT* R[8];
  for (int dy = 0; dy < dh; ++dy) {
    for (int k = 0; k < ksize; ++k) {
      const int sy = std::clamp(yofs[dy] - ksize2 + 1 + k, 0, sh - 1);
      R[k] = rows.data() + static_cast<size_t>(sy) * width;
    }
    T* D = dst + static_cast<size_t>(dy) * width;
    if constexpr (fixpt) {
      const int16_t* b = &ibeta[static_cast<size_t>(dy) * ksize];
      if (!lanczos) {
        for (int x = 0; x < width; ++x)
          D[x] = static_cast<uint8_t>(
              (((b[0] * (R[0][x] >> 4)) >> 16) + ((b[1] * (R[1][x] >> 4)) >> 16) + 2) >> 2);
      } else {
        for (int x = 0; x < width; ++x) {
          int64_t s = 0;
          for (int k = 0; k < 8; ++k) s += static_cast<int64_t>(R[k][x]) * b[k];
          D[x] = saturate_u8(static_cast<int>((s + (int64_t{1} << 21)) >> 22));
        }
      }
    } else {
      const float* b = &beta[static_cast<size_t>(dy) * ksize];
      for (int x = 0; x < width; ++x) {
        float s = R[0][x] * b[0];
        for (int k = 1; k < ksize; ++k) s += R[k][x] * b[k];
        D[x] = s;
      }
    }
  }
}

struct DecimateAlpha {
  int si, di;
  float alpha;
};

// computeResizeAreaTab: which source cells (and what fraction of each) make up every destination cell.
std::vector<DecimateAlpha> area_tab(int ssize, int dsize, int cn, double scale) {
  std::vector<DecimateAlpha> tab;
  for (int dx = 0; dx < dsize; ++dx) {
    const double fsx1 = dx * scale, fsx2 = fsx1 + scale;
    const double cell_width = std::min(scale, ssize - fsx1);
    int sx1 = cv_ceil(fsx1), sx2 = cv_floor(fsx2);
    sx2 = std::min(sx2, ssize - 1);
    sx1 = std::min(sx1, sx2);
    if (sx1 - fsx1 > 1e-3)
      tab.push_back({(sx1 - 1) * cn, dx * cn, static_cast<float>((sx1 - fsx1) / cell_width)});
    for (int sx = sx1; sx < sx2; ++sx)
      tab.push_back({sx * cn, dx * cn, static_cast<float>(1.0 / cell_width)});
    if (fsx2 - sx2 > 1e-3)
      tab.push_back({sx2 * cn, dx * cn,
                     static_cast<float>(std::min(std::min(fsx2 - sx2, 1.), cell_width) / cell_width)});
  }
  return tab;
}

// resizeArea_: shrinking by a fractional factor, float weights and sums.
template <typename T>
void resize_area(const T* src, int sw, int sh, int cn, T* dst, int dw, int dh, double scale_x,
                 double scale_y) {
  const std::vector<DecimateAlpha> xtab = area_tab(sw, dw, cn, scale_x);
  const std::vector<DecimateAlpha> ytab = area_tab(sh, dh, 1, scale_y);
  const int width = dw * cn;
  std::vector<float> buf(width), sum(width, 0.f);
  int prev_dy = ytab.empty() ? 0 : ytab[0].di;
  auto flush = [&](int dy) {
    T* D = dst + static_cast<size_t>(dy) * width;
    for (int dx = 0; dx < width; ++dx) D[dx] = cast_from_float<T>(sum[dx]);
  };
  for (const DecimateAlpha& yt : ytab) {
    const float b = yt.alpha;
    const T* S = src + static_cast<size_t>(yt.si) * sw * cn;
    std::fill(buf.begin(), buf.end(), 0.f);
    for (const DecimateAlpha& xt : xtab)
      for (int c = 0; c < cn; ++c) buf[xt.di + c] = buf[xt.di + c] + S[xt.si + c] * xt.alpha;
    if (yt.di != prev_dy) {
      flush(prev_dy);
      for (int dx = 0; dx < width; ++dx) sum[dx] = b * buf[dx];
      prev_dy = yt.di;
    } else {
      for (int dx = 0; dx < width; ++dx) sum[dx] += b * buf[dx];
    }
  }
  flush(prev_dy);
}

// resizeAreaFast_: shrinking by integer factors.
template <typename T>
void resize_area_fast(const T* src, int sw, int sh, int cn, T* dst, int dw, int dh, int isx, int isy) {
  using WT = std::conditional_t<std::is_same_v<T, uint8_t>, int, float>;
  const int area = isx * isy;
  const float scale = 1.f / area;
  const int srcstep = sw * cn, width = dw * cn, dwidth1 = (sw / isx) * cn;
  std::vector<int> ofs;
  for (int sy = 0; sy < isy; ++sy)
    for (int sx = 0; sx < isx; ++sx) ofs.push_back(sy * srcstep + sx * cn);
  const bool two_by_two = isx == 2 && isy == 2;
  for (int dy = 0; dy < dh; ++dy) {
    T* D = dst + static_cast<size_t>(dy) * width;
    const int sy0 = dy * isy;
    if (sy0 >= sh) {
      std::fill(D, D + width, T(0));
      continue;
    }
    const T* S = src + static_cast<size_t>(sy0) * srcstep;
    const int w = sy0 + isy <= sh ? dwidth1 : 0;
    int dx = 0;
    for (; dx < w; ++dx) {
      const int px = dx / cn, c = dx % cn;
      const T* P = S + px * isx * cn + c;
      if constexpr (std::is_same_v<T, uint8_t>) {
        if (two_by_two && cn != 2) {
          D[dx] = static_cast<uint8_t>((P[0] + P[cn] + P[srcstep] + P[srcstep + cn] + 2) >> 2);
          continue;
        }
      } else {
        if (two_by_two && (cn == 1 || cn == 4)) {
          D[dx] = ((P[0] + P[cn]) + (P[srcstep] + P[srcstep + cn])) * 0.25f;
          continue;
        }
      }
      WT s = 0;
      int k = 0;
      for (; k <= area - 4; k += 4) s += P[ofs[k]] + P[ofs[k + 1]] + P[ofs[k + 2]] + P[ofs[k + 3]];
      for (; k < area; ++k) s += P[ofs[k]];
      D[dx] = cast_from_float<T>(s * scale);
    }
    for (; dx < width; ++dx) {
      WT s = 0;
      int count = 0;
      const int sx0 = (dx / cn) * isx * cn + dx % cn;
      for (int sy = 0; sy < isy && sy0 + sy < sh; ++sy)
        for (int sx = 0; sx < isx * cn && sx0 + sx < srcstep; sx += cn) {
          s += src[static_cast<size_t>(sy0 + sy) * srcstep + sx0 + sx];
          ++count;
        }
      D[dx] = count ? cast_from_float<T>(static_cast<float>(s) / count) : T(0);
    }
  }
}

template <typename T>
void resize_any(const T* src, int sw, int sh, int cn, T* dst, int dw, int dh, OpencvInterpolation interp) {
  if (sw == dw && sh == dh) {
    std::copy(src, src + static_cast<size_t>(sw) * sh * cn, dst);
    return;
  }
  const double inv_scale_x = static_cast<double>(dw) / sw, inv_scale_y = static_cast<double>(dh) / sh;
  const double scale_x = 1. / inv_scale_x, scale_y = 1. / inv_scale_y;
  const int isx = cv_round(scale_x), isy = cv_round(scale_y);
  const bool area_fast = std::abs(scale_x - isx) < DBL_EPSILON && std::abs(scale_y - isy) < DBL_EPSILON;
  if (interp == OpencvInterpolation::Linear && area_fast && isx == 2 && isy == 2)
    interp = OpencvInterpolation::Area;
  if (interp == OpencvInterpolation::Area && scale_x >= 1 && scale_y >= 1) {
    if (area_fast) {
      resize_area_fast(src, sw, sh, cn, dst, dw, dh, isx, isy);
    } else {
      resize_area(src, sw, sh, cn, dst, dw, dh, scale_x, scale_y);
    }
    return;
  }
  resize_generic(src, sw, sh, cn, dst, dw, dh, interp, inv_scale_x, inv_scale_y);
}

void check_size(int width, int height) {
  if (width < 1 || height < 1 || width > kMaxImageSide || height > kMaxImageSide)
    throw Error("resize: bad target size " + std::to_string(width) + "x" + std::to_string(height));
}

}  // namespace

Image opencv_resize(const Image& image, int width, int height, OpencvInterpolation interpolation) {
  validate_image(image, "resize");
  check_size(width, height);
  Image out(width, height, image.channels);
  resize_any(image.pixels.data(), image.width, image.height, image.channels, out.pixels.data(), width, height,
             interpolation);
  return out;
}

PlaneF32 opencv_resize(const PlaneF32& plane, int width, int height, OpencvInterpolation interpolation) {
  if (plane.width < 1 || plane.height < 1 ||
      plane.values.size() != static_cast<size_t>(plane.width) * plane.height)
    throw Error("resize: bad float plane " + std::to_string(plane.width) + "x" +
                std::to_string(plane.height));
  check_size(width, height);
  PlaneF32 out{width, height, std::vector<float>(static_cast<size_t>(width) * height)};
  resize_any(plane.values.data(), plane.width, plane.height, 1, out.values.data(), width, height,
             interpolation);
  return out;
}

}  // namespace i2i
