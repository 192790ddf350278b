// kernels/interpolate.h: bilinear and bicubic resizing of channels-last maps against float64 loops of
// PyTorch's formulas, and the properties the vectorised loops must keep: every channel gets the arithmetic
// of a one-channel map (so results do not depend on the channel count or a value's address), the bf16
// output is the float32 result rounded to nearest even, and the thread count changes nothing.
//
// Tolerance: a value is a two-level weighted sum (2 or 4 terms a level, weights <= 1.25 in magnitude) in
// float32, so its error is a few u = 2^-24 times the sum of |weights x inputs|; 64 u of the largest input
// is far above that and far below a wrong tap or weight (errors of order 1e-2).
#include "kernels/interpolate.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"

namespace i2i {
namespace {

constexpr double kU = 1.0 / (1 << 24);

Tensor random_map(int64_t n, int64_t h, int64_t w, int64_t c, uint32_t seed) {
  Tensor t = Tensor::empty({n, h, w, c});
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(-4.f, 4.f);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = dist(gen);
  return t;
}

// Source taps (index, weight) of output position i, float64.
using Taps = std::vector<std::pair<int64_t, double>>;

Taps linear_taps(int64_t in, int64_t out, bool align_corners, int64_t i) {
  double src = align_corners
                   ? (out > 1 ? static_cast<double>(in - 1) / static_cast<double>(out - 1) : 0.0) * i
                   : std::max(0.0, (i + 0.5) * static_cast<double>(in) / static_cast<double>(out) - 0.5);
  const int64_t i0 = static_cast<int64_t>(src), i1 = std::min(i0 + 1, in - 1);
  return {{i0, 1 - (src - static_cast<double>(i0))}, {i1, src - static_cast<double>(i0)}};
}

Taps cubic_taps(int64_t in, double scale, int64_t i) {
  const double a = -0.75, src = (i + 0.5) / scale - 0.5;
  const double f = std::floor(src), t = src - f;
  auto k = [a](double x) {
    x = std::abs(x);
    return x <= 1 ? ((a + 2) * x - (a + 3)) * x * x + 1 : ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
  };
  Taps taps;
  for (int j = -1; j <= 2; ++j)
    taps.push_back({std::clamp<int64_t>(static_cast<int64_t>(f) + j, 0, in - 1), k(t - j)});
  return taps;
}

template <typename TapsY, typename TapsX>
void expect_near_reference(const Tensor& got, const Tensor& x, TapsY ty, TapsX tx, const char* what) {
  const int64_t n = x.dim(0), h = x.dim(1), w = x.dim(2), c = x.dim(3), oh = got.dim(1), ow = got.dim(2);
  ASSERT_EQ(got.shape(), (Shape{n, oh, ow, c})) << what;
  const float* xp = x.data<float>();
  double big = 0;
  for (int64_t i = 0; i < x.numel(); ++i) big = std::max(big, std::abs(static_cast<double>(xp[i])));
  int64_t bad = 0;
  for (int64_t b = 0; b < n; ++b)
    for (int64_t oy = 0; oy < oh; ++oy)
      for (int64_t ox = 0; ox < ow; ++ox)
        for (int64_t ch = 0; ch < c; ++ch) {
          double want = 0;
          for (const auto& [iy, wy] : ty(oy))
            for (const auto& [ix, wx] : tx(ox)) want += wy * wx * xp[((b * h + iy) * w + ix) * c + ch];
          const double g = got.data<float>()[((b * oh + oy) * ow + ox) * c + ch];
          if (!(std::abs(g - want) <= 64 * kU * big)) ++bad;
        }
  EXPECT_EQ(bad, 0) << what << ": " << bad << " values away from the float64 reference";
}

// Each channel of `got` is bit for bit the same operation run on that channel alone (a 1-channel map).
template <typename Fn>
void expect_channels_independent(const Tensor& x, Fn resize, const char* what) {
  const Tensor all = resize(x);
  const int64_t c = x.dim(3), pixels = x.numel() / c, out_pixels = all.numel() / c;
  for (int64_t ch = 0; ch < c; ch += std::max<int64_t>(1, c / 5)) {
    Tensor one = Tensor::empty({x.dim(0), x.dim(1), x.dim(2), 1});
    for (int64_t p = 0; p < pixels; ++p) one.data<float>()[p] = x.data<float>()[p * c + ch];
    const Tensor r = resize(one);
    int64_t diff = 0;
    for (int64_t p = 0; p < out_pixels; ++p)
      diff += std::memcmp(&r.data<float>()[p], &all.data<float>()[p * c + ch], sizeof(float)) != 0;
    EXPECT_EQ(diff, 0) << what << ": channel " << ch << " of " << c << " differs from the channel alone";
  }
}

TEST(Interpolate, BilinearMatchesFloat64AndKeepsEveryChannelsArithmetic) {
  for (int64_t c : {1, 3, 19, 64, 130})
    for (bool ac : {true, false})
      for (auto [h, w, oh, ow] :
           {std::array<int64_t, 4>{5, 7, 11, 16}, {9, 8, 4, 3}, {6, 6, 6, 6}, {1, 4, 3, 9}}) {
        const Tensor x = random_map(2, h, w, c, static_cast<uint32_t>(c * 7 + h));
        const Tensor y = ops::interpolate_bilinear(x, oh, ow, ac);
        expect_near_reference(
            y, x, [&](int64_t i) { return linear_taps(h, oh, ac, i); },
            [&](int64_t i) { return linear_taps(w, ow, ac, i); }, "bilinear");
        expect_channels_independent(
            x, [&](const Tensor& t) { return ops::interpolate_bilinear(t, oh, ow, ac); }, "bilinear");
      }
}

TEST(Interpolate, BicubicWithTheGivenScaleMatchesFloat64AndKeepsEveryChannelsArithmetic) {
  for (int64_t c : {1, 5, 32, 77}) {
    const int64_t g = 6, oh = 9, ow = 13;
    const double sy = (oh + 0.1) / g, sx = (ow + 0.1) / g;
    const Tensor x = random_map(1, g, g, c, static_cast<uint32_t>(c));
    const Tensor y = ops::interpolate_bicubic(x, oh, ow, sy, sx);
    expect_near_reference(
        y, x, [&](int64_t i) { return cubic_taps(g, sy, i); },
        [&](int64_t i) { return cubic_taps(g, sx, i); }, "bicubic");
    expect_channels_independent(
        x, [&](const Tensor& t) { return ops::interpolate_bicubic(t, oh, ow, sy, sx); }, "bicubic");
  }
}

TEST(Interpolate, Bf16OutputIsTheFloat32ResultRounded) {
  const Tensor x = random_map(1, 37, 29, 48, 3);
  for (bool ac : {true, false}) {
    const Tensor f = ops::interpolate_bilinear(x, 74, 61, ac);
    const Tensor b = ops::interpolate_bilinear(x, 74, 61, ac, DType::BF16);
    ASSERT_EQ(b.dtype(), DType::BF16);
    ASSERT_EQ(b.shape(), f.shape());
    int64_t diff = 0;
    for (int64_t i = 0; i < f.numel(); ++i) diff += b.data<uint16_t>()[i] != f32_to_bf16(f.data<float>()[i]);
    EXPECT_EQ(diff, 0) << "align_corners " << ac;
  }
  EXPECT_THROW(ops::interpolate_bilinear(x, 4, 4, true, DType::F16), Error);
}

TEST(Interpolate, ResultsDoNotDependOnThreadCount) {
  const Tensor x = random_map(1, 40, 40, 96, 9);
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  const Tensor one = ops::interpolate_bilinear(x, 150, 150, true);
  const Tensor cub1 = ops::interpolate_bicubic(x, 57, 57, 57.1 / 40, 57.1 / 40);
  omp_set_num_threads(std::max(2, saved));
  const Tensor two = ops::interpolate_bilinear(x, 150, 150, true);
  const Tensor cub2 = ops::interpolate_bicubic(x, 57, 57, 57.1 / 40, 57.1 / 40);
  omp_set_num_threads(saved);
  EXPECT_EQ(std::memcmp(one.raw(), two.raw(), one.nbytes()), 0);
  EXPECT_EQ(std::memcmp(cub1.raw(), cub2.raw(), cub1.nbytes()), 0);
}

}  // namespace
}  // namespace i2i
