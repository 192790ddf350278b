// LowRankUpdate's kernels (kernels/low_rank.h): float32 products (portable, AVX-512) and bf16 products with
// float32 sums (AVX512_BF16 vdpbf16ps, AMX tdpbf16ps), and the choice between them.
#include "kernels/low_rank.h"

#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "core/dtype.h"
#include "core/error.h"
#include "kernels/cpu/amx_tiles.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/kernel_choice.h"

namespace i2i {
namespace {

// w[i, :] += sum_k up[i, k] * down[k, :] for i < n, columns from_col..cols: each row's delta is summed over
// k first (from 0, in order) and then added to w.
void add_rows_portable(float* w, int64_t n, int64_t cols, const float* up, int64_t rank, const float* down,
                       int64_t from_col = 0) {
  constexpr int64_t kStrip = 16;
  float acc[kStrip];
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j0 = from_col; j0 < cols; j0 += kStrip) {
      const int64_t m = std::min(kStrip, cols - j0);
      std::fill(acc, acc + m, 0.0f);
      for (int64_t k = 0; k < rank; ++k) {
        const float a = up[i * rank + k];
        const float* d = down + k * cols + j0;
        for (int64_t j = 0; j < m; ++j) acc[j] += a * d[j];
      }
      float* wr = w + i * cols + j0;
      for (int64_t j = 0; j < m; ++j) wr[j] += acc[j];
    }
}

// The same sums with AVX-512 on 64-column strips, two rows sharing every load of down; the columns past
// the last full strip go through the portable loop.
__attribute__((target("avx512f,fma"))) void add_rows_avx512(float* w, int64_t n, int64_t cols,
                                                            const float* up, int64_t rank,
                                                            const float* down) {
  const int64_t strips = cols / 64;
  for (int64_t s = 0; s < strips; ++s) {
    const int64_t j0 = s * 64;
    for (int64_t i = 0; i < n; i += 2) {
      const bool two = i + 1 < n;
      __m512 a[4], b[4];
      for (int c = 0; c < 4; ++c) a[c] = b[c] = _mm512_setzero_ps();
      const float* u0 = up + i * rank;
      const float* u1 = two ? u0 + rank : u0;
      for (int64_t k = 0; k < rank; ++k) {
        const float* d = down + k * cols + j0;
        const __m512 x = _mm512_set1_ps(u0[k]), y = _mm512_set1_ps(u1[k]);
        for (int c = 0; c < 4; ++c) {
          const __m512 dc = _mm512_loadu_ps(d + 16 * c);
          a[c] = _mm512_fmadd_ps(x, dc, a[c]);
          b[c] = _mm512_fmadd_ps(y, dc, b[c]);
        }
      }
      float* w0 = w + i * cols + j0;
      for (int c = 0; c < 4; ++c) {
        _mm512_storeu_ps(w0 + 16 * c, _mm512_add_ps(_mm512_loadu_ps(w0 + 16 * c), a[c]));
        if (two)
          _mm512_storeu_ps(w0 + cols + 16 * c, _mm512_add_ps(_mm512_loadu_ps(w0 + cols + 16 * c), b[c]));
      }
    }
  }
  if (strips * 64 < cols) add_rows_portable(w, n, cols, up, rank, down, strips * 64);
}

// The sums with bf16 products, two k per vdpbf16ps: up bf16 [n][2 * pairs], down_pairs [pairs][padded_cols]
// (bf16 pairs k = 2p low, 2p + 1 high; padded_cols a multiple of 64, zeros past cols).
__attribute__((target("avx512f,avx512bf16"))) void add_rows_avx512bf16(float* w, int64_t n, int64_t cols,
                                                                       const uint16_t* up, int64_t pairs,
                                                                       const uint32_t* down_pairs,
                                                                       int64_t padded_cols) {
  const auto pair = [&](int64_t i, int64_t p) {
    uint32_t v;
    std::memcpy(&v, up + (i * pairs + p) * 2, sizeof v);
    return static_cast<int>(v);
  };
  for (int64_t j0 = 0; j0 < cols; j0 += 64) {
    __mmask16 mask[4];
    for (int c = 0; c < 4; ++c) {
      const int64_t m = std::clamp<int64_t>(cols - j0 - 16 * c, 0, 16);
      mask[c] = static_cast<__mmask16>((1u << m) - 1u);
    }
    for (int64_t i = 0; i < n; i += 2) {
      const bool two = i + 1 < n;
      __m512 a[4], b[4];
      for (int c = 0; c < 4; ++c) a[c] = b[c] = _mm512_setzero_ps();
      const int64_t i1 = two ? i + 1 : i;
      for (int64_t p = 0; p < pairs; ++p) {
        const uint32_t* d = down_pairs + p * padded_cols + j0;
        const __m512bh x = (__m512bh)_mm512_set1_epi32(pair(i, p));
        const __m512bh y = (__m512bh)_mm512_set1_epi32(pair(i1, p));
        for (int c = 0; c < 4; ++c) {
          const __m512bh dc = (__m512bh)_mm512_loadu_si512(d + 16 * c);
          a[c] = _mm512_dpbf16_ps(a[c], x, dc);
          b[c] = _mm512_dpbf16_ps(b[c], y, dc);
        }
      }
      for (int c = 0; c < 4; ++c) {
        if (!mask[c]) break;
        float* w0 = w + i * cols + j0 + 16 * c;
        _mm512_mask_storeu_ps(w0, mask[c], _mm512_add_ps(_mm512_maskz_loadu_ps(mask[c], w0), a[c]));
        if (two)
          _mm512_mask_storeu_ps(w0 + cols, mask[c],
                                _mm512_add_ps(_mm512_maskz_loadu_ps(mask[c], w0 + cols), b[c]));
      }
    }
  }
}

#define I2I_AMX __attribute__((target("avx512f,avx512bw,avx512bf16,amx-tile,amx-bf16")))

// The sums on AMX tiles, 32 x 32 outputs at a time: tiles 0-3 accumulate (zeroed, then k_pad / 32 steps of
// tdpbf16ps), 4-5 hold 16 rows of up each (A: [16][32] bf16), 6-7 16 columns of down each (B: 16 pair rows
// of 16 columns); the sums go through a 4 KB buffer and are added to w with masks at the edges. up: bf16
// [n + 16 or more][k_pad] from the first row to merge (rows past n are read, zeros or other rows, and not
// used); down_pairs [k_pad / 2][padded_cols].
I2I_AMX void add_rows_amx(float* w, int64_t n, int64_t cols, const uint16_t* up, int64_t k_pad,
                          const uint32_t* down_pairs, int64_t padded_cols) {
  cpu::configure_tiles_16x64();
  alignas(64) float sums[32][32];
  const int64_t a_stride = k_pad * 2, b_stride = padded_cols * 4;
  for (int64_t i0 = 0; i0 < n; i0 += 32) {
    const bool two_rows = i0 + 16 < n;
    const int64_t rows = std::min<int64_t>(32, n - i0);
    for (int64_t j0 = 0; j0 < cols; j0 += 32) {
      _tile_zero(0);
      _tile_zero(1);
      _tile_zero(2);
      _tile_zero(3);
      for (int64_t kc = 0; kc < k_pad; kc += 32) {
        const uint32_t* b = down_pairs + kc / 2 * padded_cols + j0;
        _tile_loadd(4, up + i0 * k_pad + kc, a_stride);
        _tile_loadd(6, b, b_stride);
        _tile_loadd(7, b + 16, b_stride);
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        if (two_rows) {
          _tile_loadd(5, up + (i0 + 16) * k_pad + kc, a_stride);
          _tile_dpbf16ps(2, 5, 6);
          _tile_dpbf16ps(3, 5, 7);
        }
      }
      _tile_stored(0, &sums[0][0], 128);
      _tile_stored(1, &sums[0][16], 128);
      if (two_rows) {
        _tile_stored(2, &sums[16][0], 128);
        _tile_stored(3, &sums[16][16], 128);
      }
      // GCC's tile store intrinsics do not tell the compiler they write memory.
      __asm__ __volatile__("" ::: "memory");
      const int64_t m0 = std::clamp<int64_t>(cols - j0, 0, 16),
                    m1 = std::clamp<int64_t>(cols - j0 - 16, 0, 16);
      const auto k0 = static_cast<__mmask16>((1u << m0) - 1u), k1 = static_cast<__mmask16>((1u << m1) - 1u);
      for (int64_t r = 0; r < rows; ++r) {
        float* wr = w + (i0 + r) * cols + j0;
        _mm512_mask_storeu_ps(wr, k0, _mm512_add_ps(_mm512_maskz_loadu_ps(k0, wr), _mm512_load_ps(sums[r])));
        if (k1)
          _mm512_mask_storeu_ps(
              wr + 16, k1, _mm512_add_ps(_mm512_maskz_loadu_ps(k1, wr + 16), _mm512_load_ps(sums[r] + 16)));
      }
    }
  }
  _tile_release();
}

// LoRA merges have attention's four kernels, by the same names (kernel_choice.h).
using K = cpu::AttentionKernel;
static_assert(static_cast<int>(LowRankUpdate::Kernel::Portable) == static_cast<int>(K::Portable) &&
              static_cast<int>(LowRankUpdate::Kernel::Avx512) == static_cast<int>(K::Avx512) &&
              static_cast<int>(LowRankUpdate::Kernel::Avx512Bf16) == static_cast<int>(K::Avx512Bf16) &&
              static_cast<int>(LowRankUpdate::Kernel::Amx) == static_cast<int>(K::Amx));

LowRankUpdate::Kernel choose(bool bf16_products) {
  const auto pick = [](K k) { return static_cast<LowRankUpdate::Kernel>(k); };
  if (const auto forced = cpu::kernel_overrides().lora) {
    if (!cpu::kernel_available(*forced))
      throw Error(std::string("I2I_KERNELS: lora kernel '") + cpu::kernel_name(*forced) +
                  "' cannot run on this CPU");
    if (*forced == K::Portable || *forced == K::Avx512 || bf16_products) return pick(*forced);
  }
  if (bf16_products && cpu::kernel_available(K::Amx)) return pick(K::Amx);
  if (bf16_products && cpu::kernel_available(K::Avx512Bf16)) return pick(K::Avx512Bf16);
  return pick(cpu::kernel_available(K::Avx512) ? K::Avx512 : K::Portable);
}

}  // namespace

LowRankUpdate::LowRankUpdate(std::vector<float> up, std::vector<float> down, int64_t rows, int64_t rank,
                             int64_t cols, bool bf16_products)
    : rows_(rows), rank_(rank), cols_(cols), kernel_(choose(bf16_products)) {
  if (rows < 0 || rank < 1 || cols < 1 || up.size() != static_cast<size_t>(rows * rank) ||
      down.size() != static_cast<size_t>(rank * cols))
    throw Error("low-rank update: up holds " + std::to_string(up.size()) + " values and down " +
                std::to_string(down.size()) + " for rows " + std::to_string(rows) + ", rank " +
                std::to_string(rank) + ", columns " + std::to_string(cols));
  if (kernel_ == Kernel::Portable || kernel_ == Kernel::Avx512) {
    up_ = std::move(up);
    down_ = std::move(down);
    return;
  }
  k_pad_ = kernel_ == Kernel::Amx ? (rank + 31) / 32 * 32 : (rank + 1) / 2 * 2;
  padded_cols_ = (cols + 63) / 64 * 64;
  up_bf16_.assign(static_cast<size_t>((rows + 16) * k_pad_), 0);
  for (int64_t i = 0; i < rows; ++i)
    cpu::to_bf16_serial(up.data() + i * rank, up_bf16_.data() + i * k_pad_, rank);
  const int64_t pairs = k_pad_ / 2;
  down_pairs_.assign(static_cast<size_t>(pairs * padded_cols_), 0);
  std::vector<uint16_t> row(static_cast<size_t>(cols));
  for (int64_t k = 0; k < rank; ++k) {
    cpu::to_bf16_serial(down.data() + k * cols, row.data(), cols);
    const int shift = k % 2 ? 16 : 0;
    uint32_t* dst = down_pairs_.data() + k / 2 * padded_cols_;
    for (int64_t j = 0; j < cols; ++j) dst[j] |= static_cast<uint32_t>(row[static_cast<size_t>(j)]) << shift;
  }
}

void LowRankUpdate::add_to_rows(float* w, int64_t first, int64_t n) const {
  if (first < 0 || n <= 0 || first + n > rows_) return;  // (see the header: never called so)
  switch (kernel_) {
    case Kernel::Portable:
      add_rows_portable(w, n, cols_, up_.data() + first * rank_, rank_, down_.data());
      return;
    case Kernel::Avx512:
      add_rows_avx512(w, n, cols_, up_.data() + first * rank_, rank_, down_.data());
      return;
    case Kernel::Avx512Bf16:
      add_rows_avx512bf16(w, n, cols_, up_bf16_.data() + first * k_pad_, k_pad_ / 2, down_pairs_.data(),
                          padded_cols_);
      return;
    case Kernel::Amx:
      add_rows_amx(w, n, cols_, up_bf16_.data() + first * k_pad_, k_pad_, down_pairs_.data(), padded_cols_);
      return;
  }
}

const char* LowRankUpdate::kernel() const {
  return cpu::kernel_name(static_cast<K>(kernel_));
}

void round_to_bf16(const float* src, uint16_t* dst, int64_t n) {
  cpu::to_bf16_serial(src, dst, n);
}

}  // namespace i2i
