// Group norm, layer norm and softmax. Statistics are accumulated in double over a fixed partition of the
// data (chunks of positions whose size does not depend on the thread count) and combined in a fixed
// order, so results are identical for any number of threads and match a float64 reference to float32
// round-off. Group norm reads its input once for the statistics (sums of x - K and (x - K)^2, K the
// group's first value in the sample, so that no large mean cancels) and once to normalise.

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/dtype.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/vmath.h"

namespace i2i::cpu {
namespace {

constexpr int64_t kPositionsPerChunk = 128;

// The hot loops are compiled twice (AVX-512 and baseline x86-64, picked at load time by the ifunc resolver
// of target_clones). Both do the same operations in the same order per element, so they give identical
// bits; the AVX-512 one is just 4x wider. FMA contraction is switched off for them: GCC contracts
// a * b + c by default in C++, and in the AVX-512 clone it would do so in the vector body but not in
// scalar peel/remainder iterations, so a value's bits would depend on its address.
#define I2I_CLONES __attribute__((target_clones("avx512f", "default"), optimize("fp-contract=off")))

// sum[j] += x[j] - k[j] and sq[j] += (x[j] - k[j])^2 over a chunk of positions of one sample, per channel.
I2I_CLONES void channel_sums(const float* x, int64_t positions, int64_t c, const double* k, double* sum,
                             double* sq) {
  for (int64_t p = 0; p < positions; ++p) {
    const float* row = x + p * c;
    for (int64_t j = 0; j < c; ++j) {
      double d = static_cast<double>(row[j]) - k[j];
      sum[j] += d;
      sq[j] += d * d;
    }
  }
}

// y = (x - m) * s + b over rows of c channels, optionally SiLU.
I2I_CLONES void normalize_rows(const float* xp, float* yp, int64_t rows, int64_t c, const float* m,
                               const float* s, const float* bp, bool silu) {
  for (int64_t p = 0; p < rows; ++p) {
    const float* xr = xp + p * c;
    float* yr = yp + p * c;
    if (silu) {
      for (int64_t j = 0; j < c; ++j) {
        float v = (xr[j] - m[j]) * s[j] + bp[j];
        yr[j] = v * sigmoid_approx(v);
      }
    } else {
      for (int64_t j = 0; j < c; ++j) yr[j] = (xr[j] - m[j]) * s[j] + bp[j];
    }
  }
}

// One row of layer_norm. The statistics are double sums over kLanes interleaved partial sums (element j
// goes to lane j % kLanes, lanes added in order at the end): a fixed order, so both clones give the same
// bits, and independent lanes instead of one serial chain of c dependent additions.
constexpr int64_t kLanes = 8;
I2I_CLONES void layer_norm_row(const float* x, float* y, int64_t c, const float* g, const float* b,
                               float eps) {
  double lane[kLanes] = {};
  const int64_t body = c / kLanes * kLanes;
  for (int64_t j = 0; j < body; j += kLanes)
    for (int64_t k = 0; k < kLanes; ++k) lane[k] += x[j + k];
  for (int64_t j = body; j < c; ++j) lane[j - body] += x[j];
  double s = 0;
  for (int64_t k = 0; k < kLanes; ++k) s += lane[k];
  const double mean = s / static_cast<double>(c);
  for (int64_t k = 0; k < kLanes; ++k) lane[k] = 0;
  for (int64_t j = 0; j < body; j += kLanes)
    for (int64_t k = 0; k < kLanes; ++k) {
      const double d = x[j + k] - mean;
      lane[k] += d * d;
    }
  for (int64_t j = body; j < c; ++j) {
    const double d = x[j] - mean;
    lane[j - body] += d * d;
  }
  double ss = 0;
  for (int64_t k = 0; k < kLanes; ++k) ss += lane[k];
  const float rstd =
      static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(c) + static_cast<double>(eps)));
  const float mf = static_cast<float>(mean);
  for (int64_t j = 0; j < c; ++j) y[j] = (x[j] - mf) * rstd * g[j] + b[j];
}

// The same as normalize_rows, rounded to bf16: each row is normalised in float32 (the same bits) into a
// small buffer, then converted.
void normalize_rows_bf16(const float* xp, uint16_t* yp, int64_t rows, int64_t c, const float* m,
                         const float* s, const float* bp, bool silu) {
  std::vector<float> row(static_cast<size_t>(c));
  for (int64_t p = 0; p < rows; ++p) {
    normalize_rows(xp + p * c, row.data(), 1, c, m, s, bp, silu);
    to_bf16_serial(row.data(), yp + p * c, c);
  }
}

}  // namespace

Tensor group_norm(const Tensor& x, int groups, const Tensor& gamma, const Tensor& beta, float eps, bool silu,
                  DType out) {
  const int64_t n = x.dim(0), c = x.dim(-1);
  const int64_t positions = n && c ? x.numel() / (n * c) : 0;
  const int64_t cg = c / groups;
  Tensor y = Tensor::empty(x.shape(), out);
  if (x.numel() == 0) return y;
  const int64_t chunks = (positions + kPositionsPerChunk - 1) / kPositionsPerChunk;
  const float* xp = x.data<float>();
  std::vector<double> partial(static_cast<size_t>(2 * n * chunks * c));  // per chunk: c sums, c squares
  std::vector<double> shift(static_cast<size_t>(n * c));   // the group's first value, repeated per channel
  std::vector<double> mean_c(static_cast<size_t>(n * c));  // group mean, repeated per channel
  std::vector<double> rstd_c(static_cast<size_t>(n * c));
  const double count = static_cast<double>(positions * cg);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < c; ++j) shift[i * c + j] = xp[i * positions * c + j / cg * cg];

#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < chunks; ++k) {
      int64_t p0 = k * kPositionsPerChunk, p1 = std::min(positions, p0 + kPositionsPerChunk);
      double* sums = &partial[2 * (i * chunks + k) * c];
      std::fill(sums, sums + 2 * c, 0.0);
      channel_sums(xp + (i * positions + p0) * c, p1 - p0, c, &shift[i * c], sums, sums + c);
    }
  for (int64_t i = 0; i < n; ++i)
    for (int64_t g = 0; g < groups; ++g) {
      double s = 0, q = 0;
      for (int64_t k = 0; k < chunks; ++k)
        for (int64_t j = g * cg; j < (g + 1) * cg; ++j) {
          s += partial[2 * (i * chunks + k) * c + j];
          q += partial[2 * (i * chunks + k) * c + c + j];
        }
      const double d = s / count;  // mean - K
      const double var = std::max(0.0, q / count - d * d);
      for (int64_t j = g * cg; j < (g + 1) * cg; ++j) {
        mean_c[i * c + j] = shift[i * c + j] + d;
        rstd_c[i * c + j] = 1.0 / std::sqrt(var + static_cast<double>(eps));
      }
    }

  // y = (x - mean) * (rstd * gamma) + beta, optionally SiLU.
  std::vector<float> mean_f(static_cast<size_t>(n * c)), scale_f(static_cast<size_t>(n * c));
  const float* gp = gamma.data<float>();
  const float* bp = beta.data<float>();
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < c; ++j) {
      mean_f[i * c + j] = static_cast<float>(mean_c[i * c + j]);
      scale_f[i * c + j] = static_cast<float>(rstd_c[i * c + j] * gp[j]);
    }
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < chunks; ++k) {
      int64_t p0 = k * kPositionsPerChunk, p1 = std::min(positions, p0 + kPositionsPerChunk);
      if (out == DType::BF16)
        normalize_rows_bf16(xp + (i * positions + p0) * c, y.data<uint16_t>() + (i * positions + p0) * c,
                            p1 - p0, c, &mean_f[i * c], &scale_f[i * c], bp, silu);
      else
        normalize_rows(xp + (i * positions + p0) * c, y.data<float>() + (i * positions + p0) * c, p1 - p0, c,
                       &mean_f[i * c], &scale_f[i * c], bp, silu);
    }
  return y;
}

Tensor layer_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps) {
  const int64_t c = x.dim(-1);
  const int64_t rows = c ? x.numel() / c : 0;
  Tensor y = Tensor::empty(x.shape());
  const float* xp = x.data<float>();
  const float* gp = gamma.data<float>();
  const float* bp = beta.data<float>();
  float* yp = y.data<float>();
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) layer_norm_row(xp + r * c, yp + r * c, c, gp, bp, eps);
  return y;
}

Tensor softmax(const Tensor& x) {
  const int64_t c = x.dim(-1);
  const int64_t rows = c ? x.numel() / c : 0;
  Tensor y = Tensor::empty(x.shape());
  const float* xp = x.data<float>();
  float* yp = y.data<float>();
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = xp + r * c;
    float* yr = yp + r * c;
    float m = xr[0];
    for (int64_t j = 1; j < c; ++j) m = std::max(m, xr[j]);
    double s = 0;
    for (int64_t j = 0; j < c; ++j) {
      yr[j] = exp_approx(xr[j] - m);
      s += yr[j];
    }
    float inv = static_cast<float>(1.0 / s);
    for (int64_t j = 0; j < c; ++j) yr[j] *= inv;
  }
  return y;
}

}  // namespace i2i::cpu
