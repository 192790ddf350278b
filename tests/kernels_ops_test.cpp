// The glue operations of ops.h against plain float64 loops on random inputs, including odd sizes.
//
// Tolerances, with u = 2^-24 (float32 unit round-off): each op is a handful of float32 operations per
// element on top of statistics accumulated in double, so its error is a small multiple of u times the
// magnitudes involved; each test states the bound it uses. A real bug (wrong group, wrong mask, wrong
// head split) gives errors of order 1e-2..1, far above these bounds.
#include <gtest/gtest.h>
#include <omp.h>
#include <sys/stat.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/kernel_choice.h"
#include "kernels/cpu/kernel_choice_cache.h"
#include "kernels/ops.h"
#include "support/fixtures.h"

namespace i2i {
namespace {

constexpr double kU = 1.0 / (1 << 24);

// Checks |got - want| <= tol element-wise; reports the worst element.
void expect_within(const Tensor& got, const std::vector<double>& want, const std::vector<double>& tol,
                   const char* what) {
  ASSERT_EQ(static_cast<size_t>(got.numel()), want.size()) << what;
  const float* g = got.data<float>();
  int64_t bad = 0, worst = -1;
  double worst_ratio = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    double err = std::abs(static_cast<double>(g[i]) - want[i]);
    double ratio = err / tol[i];
    if (!(err <= tol[i])) ++bad;
    if (!(ratio <= worst_ratio)) {
      worst_ratio = ratio;
      worst = static_cast<int64_t>(i);
    }
  }
  EXPECT_EQ(bad, 0) << what << ": " << bad << " elements out of tolerance; worst at " << worst << ": got "
                    << g[worst] << ", want " << want[worst] << ", tol " << tol[worst];
}

// ---- group norm ----

std::vector<double> ref_group_norm(const Tensor& x, int groups, const Tensor& gamma, const Tensor& beta,
                                   double eps, bool silu, std::vector<double>* tol) {
  int64_t n = x.dim(0), c = x.dim(-1), p = x.numel() / (n * c), cg = c / groups;
  const float* xp = x.data<float>();
  std::vector<double> y(static_cast<size_t>(x.numel()));
  tol->assign(y.size(), 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t g = 0; g < groups; ++g) {
      double s = 0, ss = 0;
      for (int64_t q = 0; q < p; ++q)
        for (int64_t j = g * cg; j < (g + 1) * cg; ++j) s += xp[(i * p + q) * c + j];
      double mean = s / static_cast<double>(p * cg);
      for (int64_t q = 0; q < p; ++q)
        for (int64_t j = g * cg; j < (g + 1) * cg; ++j) {
          double d = xp[(i * p + q) * c + j] - mean;
          ss += d * d;
        }
      double rstd = 1.0 / std::sqrt(ss / static_cast<double>(p * cg) + eps);
      for (int64_t q = 0; q < p; ++q)
        for (int64_t j = g * cg; j < (g + 1) * cg; ++j) {
          size_t idx = static_cast<size_t>((i * p + q) * c + j);
          double gm = gamma.data<float>()[j], bt = beta.data<float>()[j];
          double v = (xp[idx] - mean) * rstd * gm + bt;
          // (x - mean) rounds relative to |x| and |mean|; then two products and a sum.
          double err = 8 * kU * ((std::abs(xp[idx]) + std::abs(mean)) * rstd * std::abs(gm) + std::abs(v));
          if (silu) {
            double sv = v / (1 + std::exp(-v));
            err = 1.2 * err + 8 * kU * std::abs(sv);  // |silu'| <= 1.1
            v = sv;
          }
          y[idx] = v;
          (*tol)[idx] = err + 1e-30;
        }
    }
  return y;
}

TEST(KernelsOps, GroupNormMatchesReference) {
  struct Case {
    Shape shape;
    int groups;
    float offset;
  };
  const Case cases[] = {{{2, 7, 9, 12}, 3, 0.0f},    {{1, 33, 17, 8}, 2, 0.0f},  {{2, 5, 10}, 5, 0.0f},
                        {{1, 4, 6, 32}, 32, 0.0f},   {{1, 3, 5, 6}, 1, 0.0f},    {{2, 9, 7, 24}, 8, 5.0f},
                        {{1, 20, 20, 40}, 4, -3.0f}, {{1, 16, 16, 8}, 2, 300.0f}};
  uint32_t seed = 1;
  for (const Case& cs : cases)
    for (bool silu : {false, true}) {
      Tensor x = test::random_uniform(cs.shape, seed++, cs.offset - 1.0f, cs.offset + 1.0f);
      int64_t c = cs.shape.back();
      Tensor gamma = test::random_uniform({c}, seed++, 0.5f, 1.5f), beta = test::random_uniform({c}, seed++);
      std::vector<double> tol;
      auto want = ref_group_norm(x, cs.groups, gamma, beta, 1e-5, silu, &tol);
      Tensor got = ops::group_norm(x, cs.groups, gamma, beta, 1e-5f, silu);
      EXPECT_EQ(got.shape(), x.shape());
      expect_within(got, want, tol, silu ? "group_norm+silu" : "group_norm");
    }
}

TEST(KernelsOps, GroupNormAcceptsHalfPrecisionParameters) {
  Tensor x = test::random_uniform({1, 4, 4, 8}, 5);
  Tensor gamma = test::random_uniform({8}, 6), beta = test::random_uniform({8}, 7);
  Tensor g16 = gamma.to(DType::F16), b16 = beta.to(DType::BF16);
  Tensor a = ops::group_norm(x, 2, g16, b16, 1e-6f);
  Tensor b = ops::group_norm(x, 2, g16.to(DType::F32), b16.to(DType::F32), 1e-6f);
  EXPECT_EQ(0, std::memcmp(a.raw(), b.raw(), a.nbytes()));
}

TEST(KernelsOps, GroupNormRejectsBadArguments) {
  Tensor x = test::random_uniform({1, 4, 4, 10}, 1);
  Tensor g = test::random_uniform({10}, 2);
  EXPECT_THROW(ops::group_norm(x, 3, g, g, 1e-5f), Error);
  EXPECT_THROW(ops::group_norm(x, 2, test::random_uniform({9}, 3), g, 1e-5f), Error);
  EXPECT_THROW(ops::group_norm(x.to(DType::F16), 2, g, g, 1e-5f), Error);
}

// ---- layer norm ----

TEST(KernelsOps, LayerNormMatchesReference) {
  uint32_t seed = 100;
  for (Shape shape : {Shape{3, 37}, Shape{2, 5, 77}, Shape{1, 1}, Shape{4, 320}})
    for (float offset : {0.0f, 4.0f}) {
      Tensor x = test::random_uniform(shape, seed++, offset - 1, offset + 1);
      int64_t c = shape.back(), rows = x.numel() / c;
      Tensor gamma = test::random_uniform({c}, seed++, 0.5f, 1.5f), beta = test::random_uniform({c}, seed++);
      std::vector<double> want(static_cast<size_t>(x.numel())), tol(want.size());
      const float* xp = x.data<float>();
      for (int64_t r = 0; r < rows; ++r) {
        double s = 0, ss = 0;
        for (int64_t j = 0; j < c; ++j) s += xp[r * c + j];
        double mean = s / c;
        for (int64_t j = 0; j < c; ++j) ss += (xp[r * c + j] - mean) * (xp[r * c + j] - mean);
        double rstd = 1 / std::sqrt(ss / c + 1e-5);
        for (int64_t j = 0; j < c; ++j) {
          size_t i = static_cast<size_t>(r * c + j);
          double gm = gamma.data<float>()[j];
          want[i] = (xp[i] - mean) * rstd * gm + beta.data<float>()[j];
          tol[i] =
              8 * kU * ((std::abs(xp[i]) + std::abs(mean)) * rstd * std::abs(gm) + std::abs(want[i])) + 1e-30;
        }
      }
      expect_within(ops::layer_norm(x, gamma, beta, 1e-5f), want, tol, "layer_norm");
    }
}

// ---- activations ----

// Inputs covering the interesting range, plus extremes.
Tensor activation_inputs() {
  Tensor x = test::random_uniform({3, 1000}, 42, -10.0f, 10.0f);
  float* p = x.data<float>();
  const float special[] = {0.0f, -0.0f, 1e-30f, -1e-30f, 100.0f, -100.0f, 87.5f, -87.5f, 1e-3f, -6.0f, 30.0f};
  for (size_t i = 0; i < sizeof(special) / sizeof(special[0]); ++i) p[i] = special[i];
  return x;
}

double ref_gelu(double x) {
  return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0)));
}

// Each activation is a few float32 operations around one exp/erf: the error is a few u relative to the
// result, plus (for the erf/tanh forms, where 1 + erf(x) cancels for negative x) a few u relative to |x|.
void check_activation(Tensor (*op)(const Tensor&), double (*ref)(double), const char* name) {
  Tensor x = activation_inputs();
  std::vector<double> want(static_cast<size_t>(x.numel())), tol(want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    double v = x.data<float>()[i];
    want[i] = ref(v);
    tol[i] = 8 * kU * (std::abs(want[i]) + std::abs(v)) + 1e-37;
  }
  Tensor y = op(x);
  EXPECT_EQ(y.shape(), x.shape());
  expect_within(y, want, tol, name);
}

TEST(KernelsOps, ActivationsMatchReference) {
  check_activation(
      ops::silu, [](double x) { return x / (1 + std::exp(-x)); }, "silu");
  check_activation(ops::gelu, ref_gelu, "gelu");
  check_activation(
      ops::gelu_tanh,
      [](double x) { return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x))); },
      "gelu_tanh");
  check_activation(
      ops::quick_gelu, [](double x) { return x / (1 + std::exp(-1.702 * x)); }, "quick_gelu");
}

TEST(KernelsOps, GegluMatchesReference) {
  Tensor x = test::random_uniform({2, 3, 26}, 7, -4.0f, 4.0f);
  std::vector<double> want(2 * 3 * 13), tol(want.size());
  for (int64_t r = 0; r < 6; ++r)
    for (int64_t i = 0; i < 13; ++i) {
      double value = x.data<float>()[r * 26 + i], gate = x.data<float>()[r * 26 + 13 + i];
      size_t o = static_cast<size_t>(r * 13 + i);
      want[o] = value * ref_gelu(gate);
      tol[o] = 8 * kU * (std::abs(want[o]) + std::abs(value * gate)) + 1e-37;
    }
  Tensor y = ops::geglu(x);
  EXPECT_EQ(y.shape(), (Shape{2, 3, 13}));
  expect_within(y, want, tol, "geglu");
  EXPECT_THROW(ops::geglu(test::random_uniform({2, 5}, 1)), Error);
}

// ---- softmax ----

TEST(KernelsOps, SoftmaxMatchesReference) {
  uint32_t seed = 200;
  for (Shape shape : {Shape{4, 7}, Shape{3, 300}, Shape{2, 2, 77}, Shape{1, 1}})
    for (float range : {1.0f, 30.0f}) {
      Tensor x = test::random_uniform(shape, seed++, -range, range);
      if (shape.back() > 3) x.data<float>()[2] = -std::numeric_limits<float>::infinity();  // a masked entry
      int64_t c = shape.back(), rows = x.numel() / c;
      std::vector<double> want(static_cast<size_t>(x.numel())), tol(want.size());
      const float* xp = x.data<float>();
      for (int64_t r = 0; r < rows; ++r) {
        double m = -INFINITY, s = 0;
        for (int64_t j = 0; j < c; ++j) m = std::max(m, static_cast<double>(xp[r * c + j]));
        for (int64_t j = 0; j < c; ++j) s += std::exp(xp[r * c + j] - m);
        for (int64_t j = 0; j < c; ++j) {
          size_t i = static_cast<size_t>(r * c + j);
          want[i] = std::exp(xp[i] - m) / s;
          // x - max rounds (relative u |x - max| in the exponent), exp and the division a few u.
          double dx = std::isinf(xp[i]) ? 0 : std::abs(xp[i] - m);
          tol[i] = (8 + 2 * dx) * kU * want[i] + 1e-37;
        }
      }
      expect_within(ops::softmax(x), want, tol, "softmax");
    }
}

// ---- attention ----

struct AttnCase {
  int64_t b, tq, tk;
  int heads;
  int64_t d, dv;
  bool causal;
};

// bf16: q (after scaling), k, v and the softmax weights are rounded to bf16 (relative error <= kUb each);
// products and sums are float32. (The AMX kernel's exp has a relative error below 2.5e-6 before that
// rounding, inside the bound's 4 kUb for weights that are rounded at most 2 kUb.)
constexpr double kUb = 1.0 / 256.0 / 2.0;

void check_attention(const AttnCase& cs, uint32_t seed, Precision precision = Precision::F32) {
  const double ub = precision == Precision::BF16 ? kUb : 0.0;
  Tensor q = test::random_uniform({cs.b, cs.tq, cs.heads * cs.d}, seed, -2, 2);
  Tensor k = test::random_uniform({cs.b, cs.tk, cs.heads * cs.d}, seed + 1, -2, 2);
  Tensor v = test::random_uniform({cs.b, cs.tk, cs.heads * cs.dv}, seed + 2);
  const float scale = 1.0f / std::sqrt(static_cast<float>(cs.d));
  Tensor got = ops::attention(q, k, v, cs.heads, scale, cs.causal, precision);
  ASSERT_EQ(got.shape(), (Shape{cs.b, cs.tq, cs.heads * cs.dv}));
  std::vector<double> want(static_cast<size_t>(got.numel())), tol(want.size());
  const float *qp = q.data<float>(), *kp = k.data<float>(), *vp = v.data<float>();
  std::vector<double> s(static_cast<size_t>(cs.tk)), serr(s.size());
  for (int64_t b = 0; b < cs.b; ++b)
    for (int h = 0; h < cs.heads; ++h)
      for (int64_t i = 0; i < cs.tq; ++i) {
        int64_t n = cs.causal ? std::min(cs.tk, i + 1) : cs.tk;
        double m = -INFINITY, sum = 0, max_err = 0, vmax = 0;
        for (int64_t j = 0; j < n; ++j) {
          double dot = 0, mag = 0;
          for (int64_t c = 0; c < cs.d; ++c) {
            double a = qp[(b * cs.tq + i) * cs.heads * cs.d + h * cs.d + c];
            double e = kp[(b * cs.tk + j) * cs.heads * cs.d + h * cs.d + c];
            dot += a * e;
            mag += std::abs(a * e);
          }
          s[j] = dot * scale;
          // float32 dot product of length d (Higham's gamma_d bound), the scaling, and exp(s - max).
          // bf16: each product's operands carry 2 roundings (plus the scaling before rounding q).
          max_err = std::max(max_err, (cs.d + 4) * kU * mag * scale + 4 * kU * std::abs(s[j]) +
                                          (ub > 0 ? (2 * ub + kU) * 1.01 : 0.0) * mag * scale);
          m = std::max(m, s[j]);
        }
        for (int64_t j = 0; j < n; ++j) sum += std::exp(s[j] - m);
        for (int64_t e = 0; e < cs.dv; ++e) {
          double o = 0;
          for (int64_t j = 0; j < n; ++j) {
            double vv = vp[(b * cs.tk + j) * cs.heads * cs.dv + h * cs.dv + e];
            o += std::exp(s[j] - m) / sum * vv;
            vmax = std::max(vmax, std::abs(vv));
          }
          size_t idx = static_cast<size_t>((b * cs.tq + i) * cs.heads * cs.dv + h * cs.dv + e);
          want[idx] = o;
          // Weights are off by at most 2 max_err relative (score errors) plus the float32 sums over n keys
          // (gamma_n) and a few operations per weight; the output is a weighted mean of v.
          // bf16: the weight and v roundings (the normaliser sums the rounded weights: 2 ub per weight).
          tol[idx] = vmax * (2 * max_err + (2.0 * n + 16) * kU + 4 * ub) + 1e-30;
        }
      }
  expect_within(got, want, tol, "attention");
}

TEST(KernelsOps, AttentionMatchesReference) {
  const AttnCase cases[] = {
      {2, 37, 300, 3, 16, 24, false},  // Tq != Tk, several key blocks, Dv != D
      {1, 300, 300, 2, 40, 40, true},  // causal self-attention over several query and key blocks
      {2, 50, 300, 1, 8, 8, true},     // causal with Tq < Tk (j <= i)
      {1, 300, 77, 8, 40, 40, false},  // cross-attention shape
      {1, 5, 3, 2, 7, 5, true},        // tiny, causal with Tq > Tk
      {1, 1, 1, 1, 1, 1, false},      {1, 70, 520, 2, 64, 64, false},  // three key blocks, last partial
      {1, 67, 90, 2, 160, 80, true},  // wide heads (several output column tiles)
      {2, 13, 33, 3, 20, 70, false},  // Dv not a multiple of 16
  };
  uint32_t seed = 300;
  for (const AttnCase& cs : cases) {
    SCOPED_TRACE("b " + std::to_string(cs.b) + " tq " + std::to_string(cs.tq) + " tk " +
                 std::to_string(cs.tk) + " heads " + std::to_string(cs.heads) + " d " + std::to_string(cs.d) +
                 (cs.causal ? " causal" : ""));
    check_attention(cs, seed);
    seed += 3;
  }
}

// Forces an attention kernel (I2I_KERNELS) for the scope; back to the timed choice afterwards.
struct ForceAttention {
  explicit ForceAttention(std::optional<cpu::AttentionKernel> k) {
    cpu::KernelOverrides o;
    o.attention = k;
    cpu::set_kernel_overrides(o);
  }
  ~ForceAttention() { cpu::set_kernel_overrides({}); }
};

// The bf16 kernels this CPU can run (AMX tiles, AVX512_BF16 vdpbf16ps).
std::vector<cpu::AttentionKernel> bf16_attention_kernels() {
  std::vector<cpu::AttentionKernel> out;
  for (auto k : {cpu::AttentionKernel::Amx, cpu::AttentionKernel::Avx512Bf16})
    if (cpu::kernel_available(k)) out.push_back(k);
  return out;
}

// Each bf16 kernel (AMX: tdpbf16ps tiles; AVX512_BF16: vdpbf16ps; both for Q K^T and P V), forced in turn,
// against the same float64 reference, with the bf16 roundings added to the error bound (a layout bug gives
// O(1) errors, far outside it).
TEST(KernelsOps, AttentionBf16MatchesReference) {
  if (bf16_attention_kernels().empty())
    GTEST_SKIP() << "no AVX512_BF16 on this CPU (bf16 attention falls back to float32)";
  if (!cpu::kernel_available(cpu::AttentionKernel::Amx))
    std::printf("note: no AMX-BF16 on this CPU, the AMX attention kernel is not tested\n");
  const AttnCase cases[] = {
      {2, 37, 300, 3, 16, 24, false},    {1, 300, 300, 2, 40, 40, true}, {2, 50, 300, 1, 8, 8, true},
      {1, 300, 77, 8, 40, 40, false},    {1, 5, 3, 2, 7, 5, true},       {1, 1, 1, 1, 1, 1, false},
      {1, 70, 520, 2, 64, 64, false},    {1, 67, 90, 2, 160, 80, true},  {2, 13, 33, 3, 20, 70, false},
      {1, 130, 600, 1, 512, 512, false},  // the VAE's single 512-wide head
  };
  for (cpu::AttentionKernel kernel : bf16_attention_kernels()) {
    ForceAttention force(kernel);
    uint32_t seed = 900;
    for (const AttnCase& cs : cases) {
      SCOPED_TRACE(std::string(cpu::kernel_name(kernel)) + " b " + std::to_string(cs.b) + " tq " +
                   std::to_string(cs.tq) + " tk " + std::to_string(cs.tk) + " heads " +
                   std::to_string(cs.heads) + " d " + std::to_string(cs.d) + (cs.causal ? " causal" : ""));
      check_attention(cs, seed, Precision::BF16);
      seed += 3;
    }
  }
}

// Points the user's cache folder (XDG_CACHE_HOME) at a fresh folder for the scope, and makes the kernel
// choice cache read it.
struct ScratchCache {
  explicit ScratchCache(const std::string& name) : dir(test::temp_dir(name)) {
    if (const char* old = std::getenv("XDG_CACHE_HOME")) saved = old;
    setenv("XDG_CACHE_HOME", dir.c_str(), 1);
    cpu::forget_timed_choices();
  }
  ~ScratchCache() {
    if (saved)
      setenv("XDG_CACHE_HOME", saved->c_str(), 1);
    else
      unsetenv("XDG_CACHE_HOME");
    cpu::forget_timed_choices();
  }
  std::filesystem::path file() const { return dir / "i2i" / "kernel-choices.txt"; }
  std::filesystem::path dir;
  std::optional<std::string> saved;
};

// One key far above all others (its score ~240 above theirs, ~350 in powers of two): every kernel gives
// that key's value row, within V's bf16 rounding (2^-8 relative) plus the other keys' weights (below
// e^-200, nothing in float32), and nothing that is not finite. Exercises the far tail of each softmax's
// exp (the AMX kernel clamps 2^t at t = -125, the others underflow to 0).
TEST(KernelsOps, AttentionOneDominantKey) {
  ScratchCache cache("attention_dominant_key");  // (the timed case times: no choice kept by earlier runs)
  const int64_t tq = 37, tk = 300, d = 64, dv = 40, hot = 123;
  Tensor q = test::random_uniform({1, tq, d}, 970, 0.5f, 1.0f), k = test::random_uniform({1, tk, d}, 971),
         v = test::random_uniform({1, tk, dv}, 972);
  for (int64_t c = 0; c < d; ++c) {
    k.data<float>()[hot * d + c] = 40.0f;
    for (int64_t j = 0; j < tk; ++j)
      if (j != hot) k.data<float>()[j * d + c] *= 0.01f;
  }
  std::vector<std::optional<cpu::AttentionKernel>> kernels = {std::nullopt};
  for (auto kernel : {cpu::AttentionKernel::Amx, cpu::AttentionKernel::Avx512Bf16,
                      cpu::AttentionKernel::Avx512, cpu::AttentionKernel::Portable})
    if (cpu::kernel_available(kernel)) kernels.push_back(kernel);
  for (const auto& kernel : kernels)
    for (Precision precision : {Precision::F32, Precision::BF16}) {
      ForceAttention force(kernel);
      SCOPED_TRACE(std::string(kernel ? cpu::kernel_name(*kernel) : "timed choice") +
                   (precision == Precision::BF16 ? " bf16" : " f32"));
      const Tensor out = ops::attention(q, k, v, 1, 0.125f, false, precision);
      for (int64_t i = 0; i < tq; ++i)
        for (int64_t e = 0; e < dv; ++e) {
          const float got = out.data<float>()[i * dv + e], want = v.data<float>()[hot * dv + e];
          ASSERT_TRUE(std::isfinite(got)) << "row " << i << " column " << e;
          ASSERT_NEAR(got, want, std::abs(want) * 0x1p-8f + 1e-6f) << "row " << i << " column " << e;
        }
    }
}

// Without I2I_KERNELS the bf16 attention runs the kernel timed fastest for the shape: its result is
// bit for bit that of one of the candidates, forced.
TEST(KernelsOps, AttentionTimedChoiceIsOneOfTheKernels) {
  const auto kernels = bf16_attention_kernels();
  if (kernels.empty()) GTEST_SKIP() << "no bf16 attention kernel on this CPU";
  Tensor q = test::random_uniform({2, 200, 80}, 950), k = test::random_uniform({2, 300, 80}, 951),
         v = test::random_uniform({2, 300, 80}, 952);
  ScratchCache cache("attention_timed_choice");  // (it times: no choice kept by earlier runs)
  ForceAttention timed(std::nullopt);
  const Tensor got = ops::attention(q, k, v, 2, 0.2f, false, Precision::BF16);
  int same = 0;
  for (cpu::AttentionKernel kernel : kernels) {
    ForceAttention force(kernel);
    const Tensor want = ops::attention(q, k, v, 2, 0.2f, false, Precision::BF16);
    same += std::memcmp(got.raw(), want.raw(), got.nbytes()) == 0;
  }
  EXPECT_GE(same, 1);
}

// Choices kept per machine: read back by a later process (here: after forgetting the process's copy), the
// first line for a key winning; lines of another machine, malformed lines and fields that would split a
// line are ignored; past 1 MiB the file is read up to there and no longer grown.
TEST(KernelsOps, KernelChoiceCacheKeepsTheFirstChoicePerMachine) {
  ScratchCache cache("kernel_choice_cache");
  const std::string machine = cpu::kernel_choice_machine();
  const auto key = [](int tk) { return "attention tk " + std::to_string(tk) + " candidates amx,avx512bf16"; };
  EXPECT_FALSE(cpu::cached_kernel_choice(key(9)).has_value());
  cpu::store_kernel_choice(key(9), "amx");
  cpu::store_kernel_choice(key(9), "avx512bf16");  // already chosen: not stored
  cpu::store_kernel_choice(key(8), "portable");    // not a candidate: not stored
  cpu::store_kernel_choice("attention\ttk 10 candidates amx,avx512bf16",
                           "amx");  // a tab would split the line
  cpu::forget_kernel_choice_cache();
  EXPECT_EQ(cpu::cached_kernel_choice(key(9)), std::optional<std::string>("amx"));
  EXPECT_FALSE(cpu::cached_kernel_choice(key(8)).has_value());
  EXPECT_FALSE(cpu::cached_kernel_choice("attention\ttk 10 candidates amx,avx512bf16").has_value());
  {
    std::ofstream out(cache.file(), std::ios::app);
    out << "another CPU\t" << key(11) << "\tamx\n"
        << "garbage without tabs\n"
        << machine << "\t" << key(12) << "\tavx512bf16\textra field\n"
        << machine << "\t" << key(13) << "\tavx512bf16\n"
        << machine << "\t" << key(9) << "\tavx512bf16\n";  // a later line for tk 9: ignored
  }
  cpu::forget_kernel_choice_cache();
  EXPECT_FALSE(cpu::cached_kernel_choice(key(11)).has_value());
  EXPECT_FALSE(cpu::cached_kernel_choice(key(12)).has_value());
  EXPECT_EQ(cpu::cached_kernel_choice(key(13)), std::optional<std::string>("avx512bf16"));
  EXPECT_EQ(cpu::cached_kernel_choice(key(9)), std::optional<std::string>("amx"));
  // Over 1 MiB: the choices before the limit stay, nothing is added.
  {
    std::ofstream out(cache.file(), std::ios::app);
    out << std::string((1 << 20) + 1, 'x') << "\n";
  }
  cpu::forget_kernel_choice_cache();
  EXPECT_EQ(cpu::cached_kernel_choice(key(9)), std::optional<std::string>("amx"));
  const auto size = std::filesystem::file_size(cache.file());
  cpu::store_kernel_choice(key(14), "amx");
  EXPECT_EQ(std::filesystem::file_size(cache.file()), size);
}

// What cannot be trusted in the file is passed over: a FIFO (reading it would block) or a symbolic link is
// not opened; a line naming a kernel outside its key's candidates does not take the key; a last line cut
// short stays alone when the next choice is appended.
TEST(KernelsOps, KernelChoiceCacheSkipsWhatItCannotTrust) {
  ScratchCache cache("kernel_choice_cache_hostile");
  const std::string machine = cpu::kernel_choice_machine();
  const std::string key = "attention tk 5 candidates amx,avx512bf16";
  std::filesystem::create_directories(cache.file().parent_path());
  ASSERT_EQ(mkfifo(cache.file().c_str(), 0600), 0);
  EXPECT_FALSE(cpu::cached_kernel_choice(key).has_value());  // (returns: the FIFO is not opened)
  cpu::store_kernel_choice(key, "amx");                      // (nor written)
  std::filesystem::remove(cache.file());
  {
    std::ofstream(cache.dir / "elsewhere.txt") << machine << "\t" << key << "\tamx\n";
    std::filesystem::create_symlink(cache.dir / "elsewhere.txt", cache.file());
  }
  cpu::forget_kernel_choice_cache();
  EXPECT_FALSE(cpu::cached_kernel_choice(key).has_value());
  std::filesystem::remove(cache.file());
  {
    std::ofstream out(cache.file());
    out << machine << "\t" << key << "\tportable\n" << machine << "\t" << key << "\tamx\r\n";
    out << machine << "\t" << key << "\tavx512bf16\n" << machine << "\tattention tk 6 candidates amx,avx";
  }
  cpu::forget_kernel_choice_cache();
  EXPECT_EQ(cpu::cached_kernel_choice(key), std::optional<std::string>("avx512bf16"));
  cpu::store_kernel_choice("attention tk 7 candidates amx,avx512bf16", "amx");
  cpu::forget_kernel_choice_cache();
  EXPECT_EQ(cpu::cached_kernel_choice("attention tk 7 candidates amx,avx512bf16"),
            std::optional<std::string>("amx"));
  EXPECT_FALSE(cpu::cached_kernel_choice("attention tk 6 candidates amx,avx").has_value());
}

// With two bf16 kernels, the timed choice is written down and a later run takes the written one instead of
// timing again: whichever kernel the file names for the shape gives the result, bit for bit.
TEST(KernelsOps, AttentionTakesTheCachedChoice) {
  const auto kernels = bf16_attention_kernels();
  if (kernels.size() < 2) GTEST_SKIP() << "fewer than two bf16 attention kernels on this CPU";
  ScratchCache cache("attention_cached_choice");
  Tensor q = test::random_uniform({1, 64, 64}, 970), k = test::random_uniform({1, 96, 64}, 971),
         v = test::random_uniform({1, 96, 64}, 972);
  {
    ForceAttention timed(std::nullopt);
    ops::attention(q, k, v, 2, 0.25f, false, Precision::BF16);
  }
  std::vector<Tensor> forced;
  for (cpu::AttentionKernel kernel : kernels) {
    ForceAttention force(kernel);
    forced.push_back(ops::attention(q, k, v, 2, 0.25f, false, Precision::BF16));
  }
  if (std::memcmp(forced[0].raw(), forced[1].raw(), forced[0].nbytes()) == 0)
    GTEST_SKIP() << "the two kernels agree bit for bit here: which one ran cannot be told";
  std::ifstream in(cache.file());
  std::string line;
  ASSERT_TRUE(std::getline(in, line)) << "the timed choice was not written";
  EXPECT_NE(line.find("\tattention tk 96 d 32 dv 32 candidates amx,avx512bf16\t"), std::string::npos) << line;
  for (size_t i = 0; i < kernels.size(); ++i) {
    {
      std::ofstream out(cache.file(), std::ios::trunc);
      out << cpu::kernel_choice_machine() << "\tattention tk 96 d 32 dv 32 candidates amx,avx512bf16\t"
          << cpu::kernel_name(kernels[i]) << "\n";
    }
    ForceAttention timed(std::nullopt);  // (forgets the process's choices: the file is read again)
    const Tensor got = ops::attention(q, k, v, 2, 0.25f, false, Precision::BF16);
    EXPECT_EQ(std::memcmp(got.raw(), forced[i].raw(), got.nbytes()), 0) << cpu::kernel_name(kernels[i]);
  }
}

// A forced float32 kernel runs bf16 models' attention too (float32 math); a forced bf16 kernel leaves
// float32 attention on the float32 kernel.
TEST(KernelsOps, AttentionForcedKernelScope) {
  Tensor q = test::random_uniform({1, 40, 32}, 960), k = test::random_uniform({1, 50, 32}, 961),
         v = test::random_uniform({1, 50, 32}, 962);
  Tensor f32_default = ops::attention(q, k, v, 2, 0.3f, false);
  {
    ForceAttention force(cpu::AttentionKernel::Portable);
    Tensor a = ops::attention(q, k, v, 2, 0.3f, false, Precision::BF16);
    Tensor b = ops::attention(q, k, v, 2, 0.3f, false, Precision::F32);
    EXPECT_EQ(0, std::memcmp(a.raw(), b.raw(), a.nbytes()));
  }
  for (cpu::AttentionKernel kernel : bf16_attention_kernels()) {
    ForceAttention force(kernel);
    Tensor f = ops::attention(q, k, v, 2, 0.3f, false);
    EXPECT_EQ(0, std::memcmp(f.raw(), f32_default.raw(), f.nbytes())) << cpu::kernel_name(kernel);
  }
}

TEST(KernelsOps, KernelOverridesParse) {
  EXPECT_FALSE(cpu::parse_kernel_overrides("").attention);
  auto o = cpu::parse_kernel_overrides("attention:amx,linear:dnnl");
  ASSERT_TRUE(o.attention && o.linear);
  EXPECT_EQ(*o.attention, cpu::AttentionKernel::Amx);
  EXPECT_EQ(*cpu::parse_kernel_overrides("attention:avx512bf16").attention, cpu::AttentionKernel::Avx512Bf16);
  EXPECT_EQ(*cpu::parse_kernel_overrides("attention:avx512").attention, cpu::AttentionKernel::Avx512);
  EXPECT_EQ(*cpu::parse_kernel_overrides("linear:dnnl,attention:portable").attention,
            cpu::AttentionKernel::Portable);
  o = cpu::parse_kernel_overrides("lora:avx512bf16,attention:amx");
  ASSERT_TRUE(o.lora && o.attention);
  EXPECT_EQ(*o.lora, cpu::AttentionKernel::Avx512Bf16);
  EXPECT_EQ(*o.attention, cpu::AttentionKernel::Amx);
}

// Hostile values: each is one line naming I2I_KERNELS, never a silent fallback.
TEST(KernelsOps, KernelOverridesRejectBadValues) {
  for (const char* bad : {"attention", "attention:", "attention:avx2", "conv:dnnl", ":amx", ",",
                          "attention:amx,", ",attention:amx", "attention:amx,attention:avx512", "linear:mkl",
                          "attention:amx\nx", "attention:am\xc3\xa9", "attention:amx:amx", "ATTENTION:AMX",
                          " attention:amx", "lora:dnnl", "lora:amx,lora:amx"}) {
    try {
      cpu::parse_kernel_overrides(bad);
      ADD_FAILURE() << "accepted: " << bad;
    } catch (const Error& e) {
      const std::string m = e.what();
      EXPECT_EQ(m.rfind("I2I_KERNELS: ", 0), 0u) << m;
      EXPECT_EQ(m.find('\n'), std::string::npos) << m;
    }
  }
}

// A forced kernel the CPU lacks is an error, not a fallback (only checkable where one is missing).
TEST(KernelsOps, ForcedKernelMissingFromTheCpuIsAnError) {
  for (auto kernel :
       {cpu::AttentionKernel::Amx, cpu::AttentionKernel::Avx512Bf16, cpu::AttentionKernel::Avx512}) {
    if (cpu::kernel_available(kernel)) continue;
    ForceAttention force(kernel);
    Tensor q = test::random_uniform({1, 4, 8}, 1);
    EXPECT_THROW(ops::attention(q, q, q, 2, 1.0f, false, Precision::BF16), Error) << cpu::kernel_name(kernel);
  }
}

TEST(KernelsOps, AttentionRejectsBadShapes) {
  Tensor q = test::random_uniform({1, 4, 8}, 1), k = test::random_uniform({1, 5, 8}, 2),
         v = test::random_uniform({1, 5, 8}, 3);
  EXPECT_THROW(ops::attention(q, k, test::random_uniform({1, 4, 8}, 4), 2, 1.0f), Error);
  EXPECT_THROW(ops::attention(q, test::random_uniform({1, 5, 6}, 4), v, 2, 1.0f), Error);
  EXPECT_THROW(ops::attention(q, k, v, 3, 1.0f), Error);
  EXPECT_THROW(ops::attention(q.reshape({4, 8}), k, v, 2, 1.0f), Error);
}

// ---- data movement and arithmetic (exact) ----

TEST(KernelsOps, UpsampleNearest2x) {
  Tensor x = test::random_uniform({2, 3, 5, 7}, 400);
  Tensor y = ops::upsample_nearest2x(x);
  ASSERT_EQ(y.shape(), (Shape{2, 6, 10, 7}));
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t i = 0; i < 6; ++i)
      for (int64_t j = 0; j < 10; ++j)
        for (int64_t c = 0; c < 7; ++c)
          ASSERT_EQ(y.data<float>()[((n * 6 + i) * 10 + j) * 7 + c],
                    x.data<float>()[((n * 3 + i / 2) * 5 + j / 2) * 7 + c]);
  EXPECT_THROW(ops::upsample_nearest2x(test::random_uniform({3, 5, 7}, 1)), Error);
}

TEST(KernelsOps, ConcatChannels) {
  Tensor a = test::random_uniform({2, 3, 4, 5}, 401), b = test::random_uniform({2, 3, 4, 3}, 402);
  Tensor y = ops::concat_channels(a, b);
  ASSERT_EQ(y.shape(), (Shape{2, 3, 4, 8}));
  for (int64_t r = 0; r < 24; ++r)
    for (int64_t c = 0; c < 8; ++c)
      ASSERT_EQ(y.data<float>()[r * 8 + c],
                c < 5 ? a.data<float>()[r * 5 + c] : b.data<float>()[r * 3 + c - 5]);
  EXPECT_THROW(ops::concat_channels(a, test::random_uniform({2, 3, 5, 3}, 1)), Error);
}

TEST(KernelsOps, AddScaleAndChannelBias) {
  Tensor a = test::random_uniform({2, 3, 5, 7}, 403), b = test::random_uniform({2, 3, 5, 7}, 404);
  Tensor s = ops::add(a, b);
  Tensor sc = ops::scale(a, 0.37f);
  for (int64_t i = 0; i < a.numel(); ++i) {
    ASSERT_EQ(s.data<float>()[i], a.data<float>()[i] + b.data<float>()[i]);
    ASSERT_EQ(sc.data<float>()[i], a.data<float>()[i] * 0.37f);
  }
  Tensor a2 = a.clone();
  ops::add_(a2, b);
  EXPECT_EQ(0, std::memcmp(a2.raw(), s.raw(), s.nbytes()));
  ops::scale_(a2, 2.0f);
  for (int64_t i = 0; i < a.numel(); ++i) ASSERT_EQ(a2.data<float>()[i], s.data<float>()[i] * 2.0f);
  Tensor bias = test::random_uniform({2, 7}, 405);
  Tensor x = a.clone();
  ops::add_channel_bias_(x, bias);
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t p = 0; p < 15; ++p)
      for (int64_t c = 0; c < 7; ++c) {
        int64_t i = (n * 15 + p) * 7 + c;
        ASSERT_EQ(x.data<float>()[i], a.data<float>()[i] + bias.data<float>()[n * 7 + c]);
      }
  EXPECT_THROW(ops::add(a, test::random_uniform({2, 3, 5, 6}, 1)), Error);
  EXPECT_THROW(ops::add_channel_bias_(x, test::random_uniform({1, 7}, 1)), Error);
}

// ---- determinism ----

TEST(KernelsOps, ResultsDoNotDependOnThreadCount) {
  Tensor x = test::random_uniform({2, 40, 36, 64}, 500, -1, 3);
  Tensor g = test::random_uniform({64}, 501), bta = test::random_uniform({64}, 502);
  Tensor q = test::random_uniform({1, 300, 64}, 503), k = test::random_uniform({1, 280, 64}, 504),
         v = test::random_uniform({1, 280, 64}, 505);
  auto run = [&] {
    std::vector<Tensor> r;
    r.push_back(ops::group_norm(x, 8, g, bta, 1e-6f, true));
    r.push_back(ops::layer_norm(x, g, bta, 1e-5f));
    r.push_back(ops::softmax(x));
    r.push_back(ops::gelu(x));
    r.push_back(ops::attention(q, k, v, 2, 0.2f, false));
    r.push_back(ops::attention(q, k, v, 4, 0.2f, true));
    r.push_back(ops::attention(q, k, v, 2, 0.2f, false, Precision::BF16));
    return r;
  };
  // Each attention kernel forced in turn (the timed choice could differ between the two runs).
  std::vector<std::optional<cpu::AttentionKernel>> kernels;
  for (auto k : {cpu::AttentionKernel::Portable, cpu::AttentionKernel::Avx512,
                 cpu::AttentionKernel::Avx512Bf16, cpu::AttentionKernel::Amx})
    if (cpu::kernel_available(k)) kernels.push_back(k);
  for (const auto& kernel : kernels) {
    ForceAttention force(kernel);
    int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    auto one = run();
    omp_set_num_threads(std::max(2, saved));
    auto many = run();
    omp_set_num_threads(saved);
    for (size_t i = 0; i < one.size(); ++i)
      EXPECT_EQ(0, std::memcmp(one[i].raw(), many[i].raw(), one[i].nbytes()))
          << "result " << i << ", attention kernel " << cpu::kernel_name(*kernel);
  }
}

}  // namespace
}  // namespace i2i
