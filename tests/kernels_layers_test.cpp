// Linear and Conv2d (oneDNN) against plain float64 loops on random inputs with odd sizes.
//
// Tolerances, with u = 2^-24 and S = sum_k |x_k w_k| (computed by the reference for every output):
// * float32: any order of summing K products in float32 is within gamma_K * S, gamma_K = K u / (1 - K u)
//   (Higham, "Accuracy and Stability of Numerical Algorithms", 3.1), plus u per added bias / residual.
// * bf16: x and w are each rounded to bf16 (relative error <= 2^-9), so each product is off by at most
//   (2 * 2^-9 + 2^-18) of its magnitude: the bound is 2^-8 (1.01) S, plus the float32 terms above.
// A wrong weight layout, tap or padding gives errors of the order of S / sqrt(K), far above both.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "kernels/conv2d.h"
#include "kernels/linear.h"
#include "kernels/ops.h"
#include "kernels/precision.h"
#include "support/fixtures.h"

namespace i2i {
namespace {

constexpr double kU = 1.0 / (1 << 24);

double tolerance(double s, int64_t k, Precision p, double extra) {
  double gamma = k * kU / (1 - k * kU);
  double bf = p == Precision::BF16 ? 1.01 / 256 : 0.0;
  return (gamma + bf) * s + 2 * kU * extra + 1e-30;
}

void expect_within(const Tensor& got, const std::vector<double>& want, const std::vector<double>& tol,
                   const std::string& what) {
  ASSERT_EQ(static_cast<size_t>(got.numel()), want.size()) << what;
  const float* g = got.data<float>();
  int64_t bad = 0, worst = 0;
  double worst_ratio = -1;
  for (size_t i = 0; i < want.size(); ++i) {
    double err = std::abs(static_cast<double>(g[i]) - want[i]);
    if (!(err <= tol[i])) ++bad;
    double ratio = err / tol[i];
    if (!(ratio <= worst_ratio)) {
      worst_ratio = ratio;
      worst = static_cast<int64_t>(i);
    }
  }
  EXPECT_EQ(bad, 0) << what << ": " << bad << " elements out of tolerance; worst at " << worst << ": got "
                    << g[worst] << ", want " << want[worst] << ", tol " << tol[worst];
}

// ---- Linear ----

void check_linear(Shape x_shape, int64_t out, bool bias, bool residual, DType wdt, Precision prec,
                  uint32_t seed) {
  const int64_t in = x_shape.back();
  Tensor w = test::random_uniform({out, in}, seed).to(wdt);
  Tensor b = bias ? test::random_uniform({out}, seed + 1) : Tensor();
  Tensor x = test::random_uniform(x_shape, seed + 2);
  Shape y_shape = x_shape;
  y_shape.back() = out;
  Tensor r = test::random_uniform(y_shape, seed + 3);
  Linear lin(w, b, prec);
  EXPECT_EQ(lin.in_features(), in);
  EXPECT_EQ(lin.out_features(), out);
  Tensor y = lin(x, residual ? &r : nullptr);
  ASSERT_EQ(y.shape(), y_shape);
  std::vector<float> wf = w.to_vector();  // exact: F16/BF16 -> F32
  const int64_t m = x.numel() / in;
  std::vector<double> want(static_cast<size_t>(m * out)), tol(want.size());
  for (int64_t i = 0; i < m; ++i)
    for (int64_t o = 0; o < out; ++o) {
      double acc = 0, s = 0;
      for (int64_t k = 0; k < in; ++k) {
        double p = static_cast<double>(x.data<float>()[i * in + k]) * wf[static_cast<size_t>(o * in + k)];
        acc += p;
        s += std::abs(p);
      }
      double extra = 0;
      if (bias) acc += b.data<float>()[o], extra += std::abs(b.data<float>()[o]);
      if (residual) acc += r.data<float>()[i * out + o], extra += std::abs(r.data<float>()[i * out + o]);
      size_t idx = static_cast<size_t>(i * out + o);
      want[idx] = acc;
      tol[idx] = tolerance(s, in, prec, extra + std::abs(acc));
    }
  expect_within(y, want, tol,
                "linear x " + shape_str(x_shape) + " out " + std::to_string(out) + (bias ? " bias" : "") +
                    (residual ? " residual" : "") + " weight " + std::string(dtype_name(wdt)) +
                    (prec == Precision::BF16 ? " bf16" : " f32"));
}

TEST(KernelsLayers, LinearMatchesReference) {
  uint32_t seed = 1;
  for (Precision prec : {Precision::F32, Precision::BF16}) {
    check_linear({1, 13}, 17, true, false, DType::F32, prec, seed += 4);
    check_linear({7, 13}, 17, false, false, DType::F32, prec, seed += 4);
    check_linear({2, 5, 320}, 33, true, true, DType::F32, prec, seed += 4);
    check_linear({33, 77}, 1, true, true, DType::F16, prec, seed += 4);
    check_linear({3, 11, 40}, 120, false, true, DType::BF16, prec, seed += 4);
    check_linear({300, 768}, 64, true, false, DType::F32, prec, seed += 4);
  }
}

// forward_gelu: the exact GELU of the product, applied in the matmul's epilogue. |GELU'| <= 1.13, so the
// product's tolerance grows by that factor; the GELU itself (oneDNN's erf) adds a few float32 ulps: 8 u of
// max(|y|, 1e-3) (below 1e-3 both erf implementations are exact to far less than the product's bound).
TEST(KernelsLayers, LinearGeluEpilogueMatchesReference) {
  for (Precision prec : {Precision::F32, Precision::BF16}) {
    const int64_t m = 37, in = 96, out = 70;
    Tensor w = test::random_uniform({out, in}, 90), b = test::random_uniform({out}, 91);
    Tensor x = test::random_uniform({1, m, in}, 92);
    x = ops::scale(x, 3.0f);  // products on both sides of GELU's bend
    const Linear lin(w, b, prec);
    const Tensor y = lin.forward_gelu(x);
    ASSERT_EQ(y.shape(), (Shape{1, m, out}));
    std::vector<double> want(static_cast<size_t>(m * out)), tol(want.size());
    for (int64_t i = 0; i < m; ++i)
      for (int64_t o = 0; o < out; ++o) {
        double acc = b.data<float>()[o], s = 0;
        for (int64_t k = 0; k < in; ++k) {
          const double p = static_cast<double>(x.data<float>()[i * in + k]) * w.data<float>()[o * in + k];
          acc += p;
          s += std::abs(p);
        }
        const double g = 0.5 * acc * (1.0 + std::erf(acc / std::sqrt(2.0)));
        const size_t idx = static_cast<size_t>(i * out + o);
        want[idx] = g;
        tol[idx] = 1.13 * tolerance(s, in, prec, std::abs(b.data<float>()[o]) + std::abs(acc)) +
                   8 * kU * std::max(std::abs(g), 1e-3);
      }
    expect_within(y, want, tol, prec == Precision::BF16 ? "gelu epilogue bf16" : "gelu epilogue f32");
  }
}

// The same with products that are exact in any order and precision (multiples of 1/32 below 4, operands
// exact in bf16), so the only error left is the GELU's own: oneDNN's erf is a polynomial approximation (it
// was 1.4e-7 off at y = -0.048 here), so 1e-6 + 16 u |y|. The tanh approximation of GELU differs from the
// erf one by up to 4.7e-4 (near x = -2.7), and by more than 1e-5 over most of [-3, -1] and [1, 3]: a
// tanh epilogue fails this.
TEST(KernelsLayers, LinearGeluEpilogueIsTheErfGelu) {
  const int64_t m = 64, in = 8, out = 16;
  std::vector<float> xv(static_cast<size_t>(m * in)), wv(static_cast<size_t>(out * in));
  for (size_t i = 0; i < xv.size(); ++i) xv[i] = static_cast<float>(static_cast<int>(i * 7 % 17) - 8) / 4.0f;
  for (size_t i = 0; i < wv.size(); ++i) wv[i] = static_cast<float>(static_cast<int>(i * 3 % 5) - 2) / 8.0f;
  const Tensor x = Tensor::from_vector({m, in}, xv), w = Tensor::from_vector({out, in}, wv);
  for (Precision prec : {Precision::F32, Precision::BF16}) {
    const Tensor y = Linear(w, Tensor(), prec).forward_gelu(x);
    std::vector<double> want(static_cast<size_t>(m * out)), tol(want.size());
    for (int64_t i = 0; i < m; ++i)
      for (int64_t o = 0; o < out; ++o) {
        double acc = 0;
        for (int64_t k = 0; k < in; ++k)
          acc +=
              static_cast<double>(xv[static_cast<size_t>(i * in + k)]) * wv[static_cast<size_t>(o * in + k)];
        const double g = 0.5 * acc * (1.0 + std::erf(acc / std::sqrt(2.0)));
        want[static_cast<size_t>(i * out + o)] = g;
        tol[static_cast<size_t>(i * out + o)] = 1e-6 + 16 * kU * std::abs(g);
      }
    expect_within(y, want, tol, prec == Precision::BF16 ? "exact gelu bf16" : "exact gelu f32");
  }
}

// BF16 really computes with bf16 operands: it agrees with float32 math on bf16-rounded inputs (to float32
// round-off) and differs from float32 math on the unrounded inputs by more than float32 round-off.
TEST(KernelsLayers, Bf16UsesBf16Operands) {
  const int64_t m = 9, k = 200, n = 31;
  Tensor w = test::random_uniform({n, k}, 80), x = test::random_uniform({m, k}, 81);
  Tensor w_r = w.to(DType::BF16).to(DType::F32), x_r = x.to(DType::BF16).to(DType::F32);
  Tensor y16 = Linear(w, Tensor(), Precision::BF16)(x);
  Tensor y_rounded = Linear(w_r, Tensor())(x_r);
  Tensor y32 = Linear(w, Tensor())(x);
  double max_vs_rounded = 0, max_vs_f32 = 0, max_s = 0;
  for (int64_t i = 0; i < m; ++i)
    for (int64_t o = 0; o < n; ++o) {
      double s = 0;
      for (int64_t j = 0; j < k; ++j) s += std::abs(x.data<float>()[i * k + j] * w.data<float>()[o * k + j]);
      max_s = std::max(max_s, s);
      max_vs_rounded = std::max(max_vs_rounded, std::abs(static_cast<double>(y16.data<float>()[i * n + o]) -
                                                         y_rounded.data<float>()[i * n + o]));
      max_vs_f32 = std::max(max_vs_f32, std::abs(static_cast<double>(y16.data<float>()[i * n + o]) -
                                                 y32.data<float>()[i * n + o]));
    }
  const double f32_bound = 2 * k * kU * max_s;  // two float32 evaluations, each within gamma_k * S
  EXPECT_LE(max_vs_rounded, f32_bound);
  EXPECT_GT(max_vs_f32, f32_bound);
}

TEST(KernelsLayers, LinearReusesPrimitivesAcrossShapesAndThreads) {
  Tensor w = test::random_uniform({24, 19}, 50), b = test::random_uniform({24}, 51);
  Linear lin(w, b);
  Tensor x1 = test::random_uniform({5, 19}, 52), x2 = test::random_uniform({2, 9, 19}, 53);
  Tensor y1 = lin(x1), y2 = lin(x2);
  // Same shapes again (cached primitives), and concurrently from two threads.
  Tensor a1, a2;
  std::thread t1([&] { a1 = lin(x1); });
  std::thread t2([&] { a2 = lin(x2); });
  t1.join();
  t2.join();
  EXPECT_EQ(0, std::memcmp(a1.raw(), y1.raw(), y1.nbytes()));
  EXPECT_EQ(0, std::memcmp(a2.raw(), y2.raw(), y2.nbytes()));
  EXPECT_EQ(0, std::memcmp(lin(x1).raw(), y1.raw(), y1.nbytes()));
}

TEST(KernelsLayers, LinearRejectsBadArguments) {
  Tensor w = test::random_uniform({4, 6}, 1);
  EXPECT_THROW(Linear(test::random_uniform({4, 6, 1}, 1), Tensor()), Error);
  EXPECT_THROW(Linear(w, test::random_uniform({5}, 1)), Error);
  Linear lin(w, Tensor());
  EXPECT_THROW(lin(test::random_uniform({3, 5}, 1)), Error);
  Tensor r = test::random_uniform({3, 5}, 2);
  EXPECT_THROW(lin(test::random_uniform({3, 6}, 1), &r), Error);
  EXPECT_THROW(lin(test::random_uniform({3, 6}, 1).to(DType::BF16)), Error);
  EXPECT_THROW(Linear()(test::random_uniform({3, 6}, 1)), Error);
}

// ---- Conv2d ----

struct ConvCase {
  int64_t n, h, w, cin, cout, kh, kw;
  int stride;
  Padding pad;
  bool bias, residual;
  DType wdt;
};

void check_conv(const ConvCase& cs, Precision prec, uint32_t seed) {
  Tensor w = test::random_uniform({cs.cout, cs.cin, cs.kh, cs.kw}, seed).to(cs.wdt);
  Tensor b = cs.bias ? test::random_uniform({cs.cout}, seed + 1) : Tensor();
  Tensor x = test::random_uniform({cs.n, cs.h, cs.w, cs.cin}, seed + 2);
  const int64_t oh = (cs.h + cs.pad.top + cs.pad.bottom - cs.kh) / cs.stride + 1;
  const int64_t ow = (cs.w + cs.pad.left + cs.pad.right - cs.kw) / cs.stride + 1;
  Tensor r = test::random_uniform({cs.n, oh, ow, cs.cout}, seed + 3);
  Conv2d conv(w, b, cs.stride, cs.pad, prec);
  Tensor y = conv(x, cs.residual ? &r : nullptr);
  ASSERT_EQ(y.shape(), (Shape{cs.n, oh, ow, cs.cout}));
  std::vector<float> wf = w.to_vector();
  const float* xp = x.data<float>();
  std::vector<double> want(static_cast<size_t>(y.numel())), tol(want.size());
  for (int64_t n = 0; n < cs.n; ++n)
    for (int64_t i = 0; i < oh; ++i)
      for (int64_t j = 0; j < ow; ++j)
        for (int64_t o = 0; o < cs.cout; ++o) {
          double acc = 0, s = 0;
          for (int64_t c = 0; c < cs.cin; ++c)
            for (int64_t p = 0; p < cs.kh; ++p)
              for (int64_t q = 0; q < cs.kw; ++q) {
                int64_t yy = i * cs.stride - cs.pad.top + p, xx = j * cs.stride - cs.pad.left + q;
                if (yy < 0 || yy >= cs.h || xx < 0 || xx >= cs.w) continue;
                double prod = static_cast<double>(xp[((n * cs.h + yy) * cs.w + xx) * cs.cin + c]) *
                              wf[static_cast<size_t>(((o * cs.cin + c) * cs.kh + p) * cs.kw + q)];
                acc += prod;
                s += std::abs(prod);
              }
          size_t idx = static_cast<size_t>(((n * oh + i) * ow + j) * cs.cout + o);
          double extra = 0;
          if (cs.bias) acc += b.data<float>()[o], extra += std::abs(b.data<float>()[o]);
          if (cs.residual) acc += r.data<float>()[idx], extra += std::abs(r.data<float>()[idx]);
          want[idx] = acc;
          tol[idx] = tolerance(s, cs.cin * cs.kh * cs.kw, prec, extra + std::abs(acc));
        }
  expect_within(y, want, tol,
                "conv n" + std::to_string(cs.n) + " " + std::to_string(cs.h) + "x" + std::to_string(cs.w) +
                    " " + std::to_string(cs.cin) + "->" + std::to_string(cs.cout) + " k" +
                    std::to_string(cs.kh) + "x" + std::to_string(cs.kw) + " s" + std::to_string(cs.stride) +
                    " pad " + std::to_string(cs.pad.top) + "," + std::to_string(cs.pad.left) + "," +
                    std::to_string(cs.pad.bottom) + "," + std::to_string(cs.pad.right) +
                    (prec == Precision::BF16 ? " bf16" : " f32"));
}

TEST(KernelsLayers, Conv2dMatchesReference) {
  const ConvCase cases[] = {
      {2, 7, 9, 5, 11, 3, 3, 1, Padding::same(1), true, false, DType::F32},
      {1, 7, 9, 5, 11, 1, 1, 1, Padding::same(0), true, true, DType::F32},
      {2, 7, 9, 3, 6, 5, 5, 1, Padding::same(2), false, true, DType::F16},
      {2, 9, 7, 6, 10, 3, 3, 2, Padding{0, 0, 1, 1}, true, false, DType::F32},  // SD downsample padding
      {1, 8, 8, 4, 4, 3, 3, 2, Padding::same(1), true, true, DType::BF16},
      {1, 7, 9, 17, 19, 3, 3, 1, Padding{1, 0, 2, 1}, true, true, DType::F32},  // asymmetric
      {2, 11, 6, 7, 3, 5, 3, 2, Padding{2, 1, 0, 2}, false, false, DType::F32},
      {1, 12, 10, 40, 48, 3, 3, 1, Padding::same(1), true, true, DType::F32},
      {1, 4, 4, 8, 8, 3, 3, 1, Padding::same(0), true, false, DType::F32},  // valid: 2x2 output
  };
  uint32_t seed = 100;
  for (Precision prec : {Precision::F32, Precision::BF16})
    for (const ConvCase& cs : cases) check_conv(cs, prec, seed += 4);
}

TEST(KernelsLayers, Conv2dCachesPerShapeAndIsThreadSafe) {
  Tensor w = test::random_uniform({8, 5, 3, 3}, 60), b = test::random_uniform({8}, 61);
  Conv2d conv(w, b, 1, 1);
  EXPECT_EQ(conv.in_channels(), 5);
  EXPECT_EQ(conv.out_channels(), 8);
  Tensor x1 = test::random_uniform({1, 6, 7, 5}, 62), x2 = test::random_uniform({2, 9, 4, 5}, 63);
  Tensor y1 = conv(x1), y2 = conv(x2);
  Tensor a1, a2;
  std::thread t1([&] { a1 = conv(x1); });
  std::thread t2([&] { a2 = conv(x2); });
  t1.join();
  t2.join();
  EXPECT_EQ(0, std::memcmp(a1.raw(), y1.raw(), y1.nbytes()));
  EXPECT_EQ(0, std::memcmp(a2.raw(), y2.raw(), y2.nbytes()));
}

TEST(KernelsLayers, Conv2dRejectsBadArguments) {
  Tensor w = test::random_uniform({4, 3, 3, 3}, 1);
  EXPECT_THROW(Conv2d(test::random_uniform({4, 3, 3}, 1), Tensor()), Error);
  EXPECT_THROW(Conv2d(w, Tensor(), 0, 1), Error);
  EXPECT_THROW(Conv2d(w, test::random_uniform({3}, 1)), Error);
  Conv2d conv(w, Tensor(), 1, 0);
  EXPECT_THROW(conv(test::random_uniform({1, 5, 5, 4}, 1)), Error);  // wrong channel count
  EXPECT_THROW(conv(test::random_uniform({1, 2, 5, 3}, 1)), Error);  // smaller than the kernel
  Tensor r = test::random_uniform({1, 5, 5, 4}, 2);
  EXPECT_THROW(conv(test::random_uniform({1, 5, 5, 3}, 1), &r), Error);  // residual is not the output shape
}

TEST(KernelsLayers, ResultsDoNotDependOnThreadCount) {
  Conv2d conv(test::random_uniform({64, 32, 3, 3}, 70), test::random_uniform({64}, 71), 1, 1);
  Linear lin(test::random_uniform({96, 320}, 72), test::random_uniform({96}, 73));
  Tensor x = test::random_uniform({2, 24, 20, 32}, 74), t = test::random_uniform({700, 320}, 75);
  int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  Tensor c1 = conv(x), l1 = lin(t);
  omp_set_num_threads(std::max(2, saved));
  Tensor c2 = conv(x), l2 = lin(t);
  omp_set_num_threads(saved);
  EXPECT_EQ(0, std::memcmp(c1.raw(), c2.raw(), c1.nbytes()));
  EXPECT_EQ(0, std::memcmp(l1.raw(), l2.raw(), l1.nbytes()));
}

}  // namespace
}  // namespace i2i

namespace i2i {
namespace {

// Producers writing the layer's compute type: group norm (+SiLU) straight to bf16 is its float32 result
// rounded to nearest even, a bf16 layer given that bf16 input computes exactly what it computes from the
// float32 input, and the fused upsample gives the conv of the upsampled input, bit for bit, in both
// precisions.
TEST(KernelsLayers, Bf16ProducersAndFusedUpsample) {
  std::mt19937 rng(77);
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  auto rnd = [&](Shape s) {
    Tensor t = Tensor::empty(std::move(s));
    for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = dist(rng);
    return t;
  };
  const Tensor x = rnd({2, 9, 7, 32}), g = rnd({32}), b = rnd({32});
  const Tensor f = ops::group_norm(x, 8, g, b, 1e-6f, true);
  const Tensor h = ops::group_norm(x, 8, g, b, 1e-6f, true, DType::BF16);
  ASSERT_EQ(h.dtype(), DType::BF16);
  for (int64_t i = 0; i < f.numel(); ++i)
    ASSERT_EQ(h.data<uint16_t>()[i], f32_to_bf16(f.data<float>()[i])) << i;

  const Tensor w = rnd({16, 32, 3, 3}), bias = rnd({16});
  for (Precision p : {Precision::F32, Precision::BF16}) {
    Conv2d conv(w, bias, 1, 1, p);
    EXPECT_EQ(conv.input_dtype(), p == Precision::BF16 && cpu_has_bf16() ? DType::BF16 : DType::F32);
    const Tensor from_f32 = conv(h.to(DType::F32)), from_bf16 = conv(h);
    EXPECT_EQ(0, std::memcmp(from_f32.raw(), from_bf16.raw(), from_f32.nbytes()));
    const Tensor up = conv(ops::upsample_nearest2x(x)), fused = conv.upsampled2x(x);
    ASSERT_EQ(up.shape(), fused.shape());
    EXPECT_EQ(0, std::memcmp(up.raw(), fused.raw(), up.nbytes())) << (p == Precision::BF16 ? "bf16" : "fp32");
  }
}

}  // namespace
}  // namespace i2i
