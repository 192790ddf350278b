// Multi-head attention, tiled with an online softmax (flash-attention style): for each block of query
// rows the keys are visited in blocks, keeping only a running maximum, a running sum and the output
// accumulator, so memory is O(block) instead of O(Tq x Tk). Each output row is computed by exactly one
// thread in a fixed order, so results do not depend on the number of threads.
//
// One driver (run_attention) packs K and V per (batch, head) and runs a kernel over blocks of query rows.
// Four kernels: a portable one, AVX-512 float32, AVX512_BF16 and AMX bf16, the SIMD ones chosen at run time
// (kernel_choice.h). The three SIMD kernels share the block loop (rows_avx512: Q block, online softmax,
// normalisation). The two AVX-512 ones share the register-blocked tiles of Q K^T and P V and differ only in
// the vector operations of a tile step (load, broadcast, multiply-add) and in how P is stored; the AMX one
// computes both products on tiles (tdpbf16ps) from the same packed bf16 layouts.
//
// float32: K is packed per head as K^T [D][Tk16] and V as [Tk16][Dv16] (Tk16, Dv16: rounded up to 16,
// padding zero), so the block products run on whole 16-float vectors.
//
// bf16 (for bf16 models on CPUs with AVX512_BF16): Q, K, V and the probabilities P are rounded to bf16 and
// both products use vdpbf16ps (pairs of bf16 products summed into float32 accumulators); the softmax
// (scores, running max, exp, sums) and the output accumulation stay float32. K is packed as pairs of
// feature rows [D/2][Tk16][2] and V as pairs of key rows [Tk16/2][Dv16][2], so one 64-byte load holds
// 16 columns x 2 reduction steps.
//
// AMX (bf16 models on CPUs with AMX-BF16): the bf16 kernel's layouts are what tdpbf16ps reads. Q (the A
// operand of Q K^T) is [rows][dq] bf16 with dq rounded up to 32 (one 64-byte tile row per step), the packed
// K [dq/2][Tk32][2] is the B operand (16 pair rows x 16 keys a tile), P [rows][256] bf16 is the A operand
// of P V and the packed V [Tk32/2][Dv16][2] its B operand; keys are padded to 32 (one tile step). The
// products run on 16x16 float32 tiles, 2 x 2 at a time (tiles 0-3 accumulate, 4-5 hold A, 6-7 hold B;
// Q K^T for head dims up to 64 keeps the Q block in tiles 2-5 instead); S goes to memory for the AVX-512
// softmax, and the output accumulator is loaded into tiles and stored back around each key block's P V.
// Q is scaled by scale log2(e) before its rounding, so the scores come out in log2 units and
// P = 2^(S - max) (a cheaper polynomial than exp). Otherwise the same rounding points as the AVX512_BF16
// kernel (Q, K, V, P to bf16, float32 sums), but another summation order, so the two differ in the last
// bits.
// GCC 12's AVX-512 headers use _mm512_undefined_ps() as the pass-through operand of masked builtins,
// which trips -Wmaybe-uninitialized (GCC bug 105593) at the header's lines; silence it there only.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#include <omp.h>
#include <time.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>
#include <mutex>
#include <tuple>
#include <type_traits>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "kernels/cpu/amx_tiles.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/kernel_choice.h"
#include "kernels/cpu/kernel_choice_cache.h"
#include "kernels/cpu/vmath.h"

namespace i2i::cpu {
namespace {

constexpr int64_t kBlockQ = 64;
constexpr int64_t kBlockK = 256;
constexpr float kNegInf = -std::numeric_limits<float>::infinity();
constexpr float kLog2e = 1.44269504088896341f;
constexpr float kLn2 = 0.693147180559945309f;

bool g_force_portable = false;

inline int64_t round_up(int64_t n, int64_t m) {
  return (n + m - 1) / m * m;
}

// Keys of the block [k0, k0 + nk) that query row `row` sees.
inline int64_t visible_keys(int64_t row, int64_t k0, int64_t nk, bool causal) {
  return causal ? std::min(nk, row - k0 + 1) : nk;
}

// One (batch, head); T: the packed element, float or bf16 bits.
template <typename T>
struct HeadView {
  const float* q;  // row i at q + i * q_stride, d columns
  const T* k;      // packed K (layouts above)
  const T* v;      // packed V
  float* out;      // row i at out + i * out_stride, dv columns
  int64_t q_stride, out_stride;
  int64_t tk, tkp, d, dv, dv16;  // tkp: keys padded (16, or 32 for AMX)

  // Keys that the query rows before q1 see.
  int64_t key_end(int64_t q1, bool causal) const { return causal ? std::min(tk, q1) : tk; }
};

// Per-thread scratch for one block of query rows: the scaled Q block (dq columns a row), the scores S,
// P (float32: written over S), the output accumulator, the running maximum m and sum l.
template <typename T>
struct Scratch {
  std::vector<T> q, p;
  std::vector<float> s, acc, m, l;
  Scratch(int64_t dq, int64_t dv16)
      : q(static_cast<size_t>(kBlockQ * dq)),
        p(static_cast<size_t>(std::is_same_v<T, float> ? 0 : kBlockQ * kBlockK)),
        s(static_cast<size_t>(kBlockQ * kBlockK)),
        acc(static_cast<size_t>(kBlockQ * dv16)),
        m(kBlockQ),
        l(kBlockQ) {}

  T* probs() {
    if constexpr (std::is_same_v<T, float>)
      return s.data();
    else
      return p.data();
  }
  void start(int64_t rows, int64_t dv16) {
    std::fill(m.begin(), m.begin() + rows, kNegInf);
    std::fill(l.begin(), l.begin() + rows, 0.0f);
    std::fill(acc.begin(), acc.begin() + rows * dv16, 0.0f);
  }
  // Output rows q0 .. q0 + rows: the accumulator over the softmax sum.
  void finish(const HeadView<T>& h, int64_t q0, int64_t rows) const {
    for (int64_t i = 0; i < rows; ++i) {
      const float inv = 1.0f / l[i];
      float* oi = h.out + (q0 + i) * h.out_stride;
      for (int64_t e = 0; e < h.dv; ++e) oi[e] = acc[i * h.dv16 + e] * inv;
    }
  }
};

// ---- portable kernel ----

struct Portable {
  using T = float;
  static constexpr int64_t kPair = 1, kDAlign = 1, kKeyAlign = 16;
  static constexpr bool kTiles = false, kOnesColumn = false, kLog2Scores = false;
  static void begin() {}
  static void end() {}
  static int64_t k_index(int64_t c, int64_t j, int64_t, int64_t tkp) { return c * tkp + j; }
  static float cvt(float x) { return x; }

  static void rows(const HeadView<float>& h, int64_t q0, int64_t q1, float scale, bool causal,
                   Scratch<float>& sc) {
    const int64_t rows = q1 - q0, d = h.d, dv16 = h.dv16;
    float *s = sc.s.data(), *acc = sc.acc.data(), *m = sc.m.data(), *l = sc.l.data();
    sc.start(rows, dv16);
    const int64_t kend = h.key_end(q1, causal);
    for (int64_t k0 = 0; k0 < kend; k0 += kBlockK) {
      const int64_t nk = std::min(kBlockK, kend - k0);
      for (int64_t i = 0; i < rows; ++i) {
        float* si = s + i * kBlockK;
        const float* qi = h.q + (q0 + i) * h.q_stride;
        for (int64_t j = 0; j < nk; ++j) si[j] = 0.0f;
        for (int64_t c = 0; c < d; ++c) {
          const float qc = qi[c] * scale;
          const float* kc = h.k + c * h.tkp + k0;
          for (int64_t j = 0; j < nk; ++j) si[j] += qc * kc[j];
        }
      }
      for (int64_t i = 0; i < rows; ++i) {
        const int64_t limit = visible_keys(q0 + i, k0, nk, causal);
        if (limit <= 0) continue;
        float* si = s + i * kBlockK;
        float mx = m[i];
        for (int64_t j = 0; j < limit; ++j) mx = std::max(mx, si[j]);
        const float corr = m[i] == kNegInf ? 0.0f : exp_approx(m[i] - mx);
        m[i] = mx;
        float sum = 0.0f;
        for (int64_t j = 0; j < limit; ++j) {
          si[j] = exp_approx(si[j] - mx);
          sum += si[j];
        }
        l[i] = l[i] * corr + sum;
        float* ai = acc + i * dv16;
        for (int64_t e = 0; e < h.dv; ++e) ai[e] *= corr;
        for (int64_t j = 0; j < limit; ++j) {
          const float p = si[j];
          const float* vj = h.v + (k0 + j) * dv16;
          for (int64_t e = 0; e < h.dv; ++e) ai[e] += p * vj[e];
        }
      }
    }
    sc.finish(h, q0, rows);
  }
};

// ---- AVX-512 kernels ----

#define I2I_AVX512 __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,fma")))
#define I2I_AVX512BF16 __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,fma,avx512bf16")))
// On each kernel's rows: the shared block loop, the dispatch and the tiles are all inlined into it, so they
// run under that kernel's target (needed for bf16: rows_avx512 itself has the plain AVX-512 target, and
// GCC only inlines a function into one whose target includes its own).
#define I2I_FLATTEN __attribute__((flatten))

I2I_AVX512 inline __m512 exp16(__m512 x) {
  const __mmask16 under = _mm512_cmp_ps_mask(x, _mm512_set1_ps(-87.0f), _CMP_LT_OQ);
  x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.0f)), _mm512_set1_ps(88.0f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145751953125f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.428606765330187045e-06f), r);
  __m512 p = _mm512_set1_ps(1.0f / 5040.0f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 720.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  return _mm512_maskz_mov_ps(static_cast<__mmask16>(~under), _mm512_scalef_ps(p, n));
}

// Horizontal max / sum (GCC 12's _mm512_reduce_* trip -Wmaybe-uninitialized in its own headers).
// The maximum by halving shuffles (max is exact, so the order does not matter).
I2I_AVX512 inline float hmax16(__m512 v) {
  v = _mm512_max_ps(v, _mm512_shuffle_f32x4(v, v, _MM_SHUFFLE(1, 0, 3, 2)));
  v = _mm512_max_ps(v, _mm512_shuffle_f32x4(v, v, _MM_SHUFFLE(2, 3, 0, 1)));
  v = _mm512_max_ps(v, _mm512_permute_ps(v, _MM_SHUFFLE(1, 0, 3, 2)));
  v = _mm512_max_ps(v, _mm512_permute_ps(v, _MM_SHUFFLE(2, 3, 0, 1)));
  return _mm512_cvtss_f32(v);
}
I2I_AVX512 inline float hsum16(__m512 v) {
  alignas(64) float t[16];
  _mm512_store_ps(t, v);
  float r = 0.0f;
  for (int i = 0; i < 16; ++i) r += t[i];
  return r;
}

// Tile dispatch, shared by the two SIMD kernels K (target-free: it takes the target of K::rows).
//
// Row blocks of up to 6 (Q K^T: 6 x 32 accumulators; P V: 6 x 64): F<K, R>::run(i, args...).
template <template <class, int> class F, class K, typename... Args>
inline void for_row_blocks(int64_t rows, Args... args) {
  int64_t i = 0;
  for (; i + 6 <= rows; i += 6) F<K, 6>::run(i, args...);
  switch (rows - i) {
    case 5:
      F<K, 5>::run(i, args...);
      break;
    case 4:
      F<K, 4>::run(i, args...);
      break;
    case 3:
      F<K, 3>::run(i, args...);
      break;
    case 2:
      F<K, 2>::run(i, args...);
      break;
    case 1:
      F<K, 1>::run(i, args...);
      break;
    default:
      break;
  }
}

// One register-blocked tile of a block product, for R rows and 16 NC columns:
//   c[r][0 .. 16 NC) (+)= sum_{t < n} a[r][t] b[t][0 .. 16 NC),
// row r of a at a + r * lda, step t of b at b + t * ldb; a step is K::kPair reduction terms (bf16: a pair
// per element of a vector). Starts from zero, or from c when kAccumulate.
template <class K, int R, int NC, bool kAccumulate>
I2I_AVX512 inline void tile(const typename K::T* a, int64_t lda, const typename K::T* b, int64_t ldb,
                            int64_t n, float* c, int64_t ldc) {
  __m512 o[R][NC];
  for (int r = 0; r < R; ++r)
    for (int j = 0; j < NC; ++j)
      o[r][j] = kAccumulate ? _mm512_loadu_ps(c + r * ldc + 16 * j) : _mm512_setzero_ps();
  for (int64_t t = 0; t < n; ++t) {
    typename K::Vec bv[NC];
    for (int j = 0; j < NC; ++j) bv[j] = K::load(b + t * ldb + 16 * K::kPair * j);
    for (int r = 0; r < R; ++r) {
      const typename K::Vec av = K::bcast(a + r * lda + K::kPair * t);
      for (int j = 0; j < NC; ++j) o[r][j] = K::madd(o[r][j], av, bv[j]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int j = 0; j < NC; ++j) _mm512_storeu_ps(c + r * ldc + 16 * j, o[r][j]);
}

// s rows i .. i + R (row stride kBlockK) = q rows (dq columns, already scaled) times the packed K block
// (k_stride elements a step): 32-column tiles, then one of 16.
template <class K, int R>
struct QkRows {
  using T = typename K::T;
  static void run(int64_t i, const T* q, int64_t dq, const T* k, int64_t k_stride, int64_t nk16, float* s) {
    q += i * dq;
    s += i * kBlockK;
    const int64_t steps = dq / K::kPair;
    int64_t j = 0;
    for (; j + 32 <= nk16; j += 32)
      tile<K, R, 2, false>(q, dq, k + K::kPair * j, k_stride, steps, s + j, kBlockK);
    if (j < nk16) tile<K, R, 1, false>(q, dq, k + K::kPair * j, k_stride, steps, s + j, kBlockK);
  }
};

// acc rows i .. i + R (dv16 columns) += p rows (row stride kBlockK, nk16 keys) times the packed V block:
// 64-column tiles, then one of the remaining 48, 32 or 16.
template <class K, int R>
struct PvRows {
  using T = typename K::T;
  static void run(int64_t i, const T* p, const T* v, int64_t dv16, int64_t nk16, float* acc) {
    p += i * kBlockK;
    acc += i * dv16;
    const int64_t vs = K::kPair * dv16, steps = nk16 / K::kPair;
    int64_t e = 0;
    for (; e + 64 <= dv16; e += 64)
      tile<K, R, 4, true>(p, kBlockK, v + K::kPair * e, vs, steps, acc + e, dv16);
    switch ((dv16 - e) / 16) {
      case 3:
        tile<K, R, 3, true>(p, kBlockK, v + K::kPair * e, vs, steps, acc + e, dv16);
        break;
      case 2:
        tile<K, R, 2, true>(p, kBlockK, v + K::kPair * e, vs, steps, acc + e, dv16);
        break;
      case 1:
        tile<K, R, 1, true>(p, kBlockK, v + K::kPair * e, vs, steps, acc + e, dv16);
        break;
      default:
        break;
    }
  }
};

// The block of query rows q0 .. q1 for a SIMD kernel K, which gives: T and kPair (the packed element and
// the reduction terms per vector element: 1, or 2 for bf16 pairs), kDAlign and kKeyAlign (the padding of
// the head dimension and of the keys in the packed layouts), cvt (float to T), store_p (stores a vector
// of P as T, returns the values the softmax sum adds), kLog2Scores (Q scaled by log2(e) too, so the
// scores are in log2 units and P = 2^(S - max): K::exp2_scores), and the products: kTiles and K::qk /
// K::pv (AMX), or Vec, load, bcast and madd (a register tile step, see tile). Called from K::rows.
template <class K>
I2I_AVX512 inline void rows_avx512(const HeadView<typename K::T>& h, int64_t q0, int64_t q1, float scale,
                                   bool causal, Scratch<typename K::T>& sc) {
  using T = typename K::T;
  const int64_t rows = q1 - q0, d = h.d, dq = round_up(d, K::kDAlign), dv16 = h.dv16;
  T *qs = sc.q.data(), *p = sc.probs();
  float *s = sc.s.data(), *acc = sc.acc.data(), *m = sc.m.data(), *l = sc.l.data();
  const float qscale = K::kLog2Scores ? scale * kLog2e : scale;
  for (int64_t i = 0; i < rows; ++i) {
    const float* qi = h.q + (q0 + i) * h.q_stride;
    if constexpr (K::kTiles) {  // dq is a multiple of 32: whole vectors, the same bits as K::cvt
      const __m512 sv = _mm512_set1_ps(qscale);
      for (int64_t c = 0; c < dq; c += 16) {
        const __mmask16 in = c + 16 <= d ? 0xffff : c < d ? static_cast<__mmask16>((1u << (d - c)) - 1u) : 0;
        K::store_p(qs + i * dq + c, _mm512_mul_ps(_mm512_maskz_loadu_ps(in, qi + c), sv));
      }
    } else {
      for (int64_t c = 0; c < dq; ++c) qs[i * dq + c] = c < d ? K::cvt(qi[c] * qscale) : T{0};
    }
  }
  sc.start(rows, dv16);
  const int64_t kend = h.key_end(q1, causal);
  for (int64_t k0 = 0; k0 < kend; k0 += kBlockK) {
    const int64_t nk = std::min(kBlockK, kend - k0), nk16 = round_up(nk, K::kKeyAlign);
    if constexpr (K::kTiles)
      K::qk(qs, rows, dq, h.k + k0 * dq, nk16, s);
    else
      for_row_blocks<QkRows, K>(rows, static_cast<const T*>(qs), dq, h.k + K::kPair * k0, K::kPair * h.tkp,
                                nk16, s);
    // Online softmax: P = exp(S - running max), zero beyond each row's last visible key; the sum l adds
    // P as stored (bf16: the rounded weights, so the output stays a weighted mean).
    for (int64_t i = 0; i < rows; ++i) {
      const float* si = s + i * kBlockK;
      T* pi = p + i * kBlockK;
      const int64_t limit = visible_keys(q0 + i, k0, nk, causal);
      int64_t j = 0;
      if (limit > 0) {
        // Two independent maximum chains (a row is up to 16 vectors).
        __m512 mv = _mm512_set1_ps(kNegInf), mv2 = mv;
        for (; j + 32 <= limit; j += 32) {
          mv = _mm512_max_ps(mv, _mm512_loadu_ps(si + j));
          mv2 = _mm512_max_ps(mv2, _mm512_loadu_ps(si + j + 16));
        }
        mv = _mm512_max_ps(mv, mv2);
        for (; j + 16 <= limit; j += 16) mv = _mm512_max_ps(mv, _mm512_loadu_ps(si + j));
        const __mmask16 tail = static_cast<__mmask16>((1u << (limit - j)) - 1u);
        if (j < limit) mv = _mm512_max_ps(mv, _mm512_mask_loadu_ps(mv, tail, si + j));
        const float mx = std::max(m[i], hmax16(mv));
        // The accumulator's correction; 1 (no multiply) when the maximum stayed, as it mostly does after
        // the first key blocks.
        const float corr = m[i] == kNegInf ? 0.0f
                           : m[i] == mx    ? 1.0f
                                           : exp_approx((m[i] - mx) * (K::kLog2Scores ? kLn2 : 1.0f));
        m[i] = mx;
        if constexpr (K::kOnesColumn) {
          // The sum of P comes out of P V (the ones column of V), so only exp and the store here.
          static_assert(K::kLog2Scores, "the ones-column softmax takes 2^(S - max) of log2-unit scores");
          const __m512 mxv = _mm512_set1_ps(mx);
          j = 0;
          for (; j + 32 <= limit; j += 32)  // 32 at a time: one conversion instruction and one store
            K::store_p2(pi + j, K::exp2_scores(_mm512_loadu_ps(si + j), mxv),
                        K::exp2_scores(_mm512_loadu_ps(si + j + 16), mxv));
          for (; j + 16 <= limit; j += 16) K::store_p(pi + j, K::exp2_scores(_mm512_loadu_ps(si + j), mxv));
          if (j < limit) {
            K::store_p(pi + j, _mm512_maskz_mov_ps(tail, K::exp2_scores(_mm512_loadu_ps(si + j), mxv)));
            j += 16;
          }
        } else {
          const __m512 mxv = _mm512_set1_ps(mx);
          __m512 sum = _mm512_setzero_ps();
          for (j = 0; j + 16 <= limit; j += 16)
            sum = _mm512_add_ps(sum, K::store_p(pi + j, exp16(_mm512_sub_ps(_mm512_loadu_ps(si + j), mxv))));
          if (j < limit) {
            const __m512 pv = _mm512_maskz_mov_ps(tail, exp16(_mm512_sub_ps(_mm512_loadu_ps(si + j), mxv)));
            sum = _mm512_add_ps(sum, K::store_p(pi + j, pv));
            j += 16;
          }
          l[i] = l[i] * corr + hsum16(sum);
        }
        if (corr != 1.0f) {
          const __m512 cv = _mm512_set1_ps(corr);
          float* ai = acc + i * dv16;
          for (int64_t e = 0; e < dv16; e += 16)
            _mm512_storeu_ps(ai + e, _mm512_mul_ps(_mm512_loadu_ps(ai + e), cv));
        }
      }
      for (; j < nk16; j += 16) K::store_p(pi + j, _mm512_setzero_ps());
    }
    if constexpr (K::kTiles)
      K::pv(p, rows, h.v + k0 * dv16, dv16, nk16, acc);
    else
      for_row_blocks<PvRows, K>(rows, static_cast<const T*>(p), h.v + k0 * dv16, dv16, nk16, acc);
  }
  if constexpr (K::kOnesColumn)
    for (int64_t i = 0; i < rows; ++i) l[i] = acc[i * dv16 + h.dv];
  sc.finish(h, q0, rows);
}

struct Avx512F32 {
  using T = float;
  static constexpr int64_t kPair = 1, kDAlign = 1, kKeyAlign = 16;
  static constexpr bool kTiles = false, kOnesColumn = false, kLog2Scores = false;
  static void begin() {}
  static void end() {}
  // Packed K: [dq / kPair][tkp][kPair] (element c, key j).
  static int64_t k_index(int64_t c, int64_t j, int64_t, int64_t tkp) {
    return (c / kPair * tkp + j) * kPair + c % kPair;
  }
  static float cvt(float x) { return x; }

  using Vec = __m512;
  I2I_AVX512 static __m512 load(const float* p) { return _mm512_loadu_ps(p); }
  I2I_AVX512 static __m512 bcast(const float* p) { return _mm512_set1_ps(*p); }
  I2I_AVX512 static __m512 madd(__m512 acc, __m512 a, __m512 b) { return _mm512_fmadd_ps(a, b, acc); }

  I2I_AVX512 static __m512 store_p(float* p, __m512 v) {
    _mm512_storeu_ps(p, v);
    return v;
  }

  I2I_AVX512 I2I_FLATTEN static void rows(const HeadView<float>& h, int64_t q0, int64_t q1, float scale,
                                          bool causal, Scratch<float>& sc) {
    rows_avx512<Avx512F32>(h, q0, q1, scale, causal, sc);
  }
};

struct Avx512Bf16 {
  using T = uint16_t;
  static constexpr int64_t kPair = 2, kDAlign = 2, kKeyAlign = 16;
  static constexpr bool kTiles = false, kOnesColumn = false, kLog2Scores = false;
  static void begin() {}
  static void end() {}
  // Packed K: [dq / kPair][tkp][kPair] (element c, key j).
  static int64_t k_index(int64_t c, int64_t j, int64_t, int64_t tkp) {
    return (c / kPair * tkp + j) * kPair + c % kPair;
  }
  static uint16_t cvt(float x) { return f32_to_bf16(x); }

  // Vectors of 16 column pairs; madd adds the two products of each pair (vdpbf16ps).
  using Vec = __m512bh;
  I2I_AVX512BF16 static __m512bh load(const uint16_t* p) { return (__m512bh)_mm512_loadu_si512(p); }
  I2I_AVX512BF16 static __m512bh bcast(const uint16_t* p) {
    int32_t w;
    std::memcpy(&w, p, sizeof w);
    return (__m512bh)_mm512_set1_epi32(w);
  }
  I2I_AVX512BF16 static __m512 madd(__m512 acc, __m512bh a, __m512bh b) {
    return _mm512_dpbf16_ps(acc, a, b);
  }

  // P rounded to bf16; returns the rounded values.
  I2I_AVX512BF16 static __m512 store_p(uint16_t* p, __m512 v) {
    const __m256bh b = _mm512_cvtneps_pbh(v);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), (__m256i)b);
    return _mm512_cvtpbh_ps(b);
  }

  I2I_AVX512BF16 I2I_FLATTEN static void rows(const HeadView<uint16_t>& h, int64_t q0, int64_t q1,
                                              float scale, bool causal, Scratch<uint16_t>& sc) {
    rows_avx512<Avx512Bf16>(h, q0, q1, scale, causal, sc);
  }
};

// ---- AMX kernel ----

#define I2I_AMX __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,fma,avx512bf16,amx-tile,amx-bf16")))

// GCC's tile load intrinsics are asm statements that do not tell the compiler they read memory; this
// barrier, before the loads of a product, makes the stores of Q and P that precede it happen first.
#define I2I_MEMORY_BARRIER() __asm__ __volatile__("" ::: "memory")

struct AmxBf16 : Avx512Bf16 {
  static constexpr int64_t kDAlign = 32, kKeyAlign = 32;
  static constexpr bool kTiles = true, kOnesColumn = true, kLog2Scores = true;

  // Packed K in tiles: [tkp / 16][dq / 2][16][2], so that the B operand for 32 features of 16 keys is
  // 1 KB in one piece (a row-major [dq / 2][tkp][2] has its 16 rows tkp * 4 bytes apart).
  static int64_t k_index(int64_t c, int64_t j, int64_t dq, int64_t) {
    return ((j / 16 * (dq / 2) + c / 2) * 16 + j % 16) * 2 + c % 2;
  }

  // 2^(s - max) for scores s at most max (log2 units): t = s - max clamped at -125 (so no result is
  // subnormal: the polynomial is just under 1 at f = 0), 2^f for f = t - floor(t) in [0, 1) by a degree-3
  // polynomial fitted for relative error (below 7.5e-5, far under the 2^-9 of the bf16 rounding of P that
  // follows), times 2^floor(t).
  I2I_AMX static __m512 exp2_scores(__m512 s, __m512 max) {
    const __m512 t = _mm512_max_ps(_mm512_sub_ps(s, max), _mm512_set1_ps(-125.0f));
    const __m512 f = _mm512_reduce_ps(t, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    __m512 p = _mm512_set1_ps(0.07802451401948929f);
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(0.2260671705007553f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(0.6958335638046265f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(0.9999251961708069f));
    return _mm512_scalef_ps(p, t);
  }

  // Two vectors of P rounded to bf16 (a then b), as store_p twice.
  I2I_AMX static void store_p2(uint16_t* p, __m512 a, __m512 b) {
    _mm512_storeu_si512(p, (__m512i)_mm512_cvtne2ps_pbh(b, a));
  }

  // Once per thread and parallel region, before any tile instruction / after the last one.
  I2I_AMX static void begin() { configure_tiles_16x64(); }
  I2I_AMX static void end() { _tile_release(); }

  // s rows 0 .. round_up(rows, 16) (row stride kBlockK) = q (dq columns a row) times the packed K from
  // the block's first key, nk32 columns (a multiple of 32). Rows past `rows` are computed from whatever
  // the scratch holds there (finite) and ignored.
  I2I_AMX static void qk(const uint16_t* q, int64_t rows, int64_t dq, const uint16_t* k, int64_t nk32,
                         float* s) {
    I2I_MEMORY_BARRIER();
    const int64_t r16 = round_up(rows, 16), qb = dq * 2, kb = 64, sb = kBlockK * 4;
    if (dq <= 64 && r16 <= 32) {
      // Head dims up to 64 (the UNets' 40 and 64, ViTs' 64): the Q block stays in tiles 2-5 (rows 0-15 and
      // 16-31, features 0-31 and 32-63) for the whole key block, and each 16 keys take two loads of K
      // (tiles 6-7) for up to four products into tiles 0-1. Fewer tile loads than the 2 x 2 blocking
      // below, which reloads Q for every 32 keys (in a micro-benchmark on a Xeon with AMX, ~20 % less time
      // for this product alone).
      const bool two = r16 > 16, wide = dq > 32;
      _tile_loadd(2, q, qb);
      if (wide) _tile_loadd(3, q + 32, qb);
      if (two) {
        _tile_loadd(4, q + 16 * dq, qb);
        if (wide) _tile_loadd(5, q + 16 * dq + 32, qb);
      }
      for (int64_t j = 0; j < nk32; j += 16) {
        const uint16_t* kj = k + j * dq;  // keys j .. j + 15: features 0-31, then 32-63 (+512)
        _tile_zero(0);
        _tile_loadd(6, kj, kb);
        _tile_dpbf16ps(0, 2, 6);
        if (two) {
          _tile_zero(1);
          _tile_dpbf16ps(1, 4, 6);
        }
        if (wide) {
          _tile_loadd(7, kj + 512, kb);
          _tile_dpbf16ps(0, 3, 7);
          if (two) _tile_dpbf16ps(1, 5, 7);
        }
        _tile_stored(0, s + j, sb);
        if (two) _tile_stored(1, s + 16 * kBlockK + j, sb);
      }
      return;
    }
    for (int64_t i = 0; i < r16; i += 32) {
      const bool two = i + 16 < r16;
      for (int64_t j = 0; j < nk32; j += 32) {
        _tile_zero(0);
        _tile_zero(1);
        if (two) {
          _tile_zero(2);
          _tile_zero(3);
        }
        for (int64_t c = 0; c < dq; c += 32) {
          const uint16_t* kc = k + j * dq + c * 16;
          _tile_loadd(4, q + i * dq + c, qb);
          _tile_loadd(6, kc, kb);
          _tile_loadd(7, kc + 16 * dq, kb);
          _tile_dpbf16ps(0, 4, 6);
          _tile_dpbf16ps(1, 4, 7);
          if (two) {
            _tile_loadd(5, q + (i + 16) * dq + c, qb);
            _tile_dpbf16ps(2, 5, 6);
            _tile_dpbf16ps(3, 5, 7);
          }
        }
        float* si = s + i * kBlockK + j;
        _tile_stored(0, si, sb);
        _tile_stored(1, si + 16, sb);
        if (two) {
          _tile_stored(2, si + 16 * kBlockK, sb);
          _tile_stored(3, si + 16 * kBlockK + 16, sb);
        }
      }
    }
  }

  // acc rows 0 .. round_up(rows, 16) (dv16 columns) += p (row stride kBlockK, nk32 keys) times the packed V
  // block.
  I2I_AMX static void pv(const uint16_t* p, int64_t rows, const uint16_t* v, int64_t dv16, int64_t nk32,
                         float* acc) {
    I2I_MEMORY_BARRIER();
    const int64_t r16 = round_up(rows, 16), pb = kBlockK * 2, vb = dv16 * 4, ab = dv16 * 4;
    for (int64_t i = 0; i < r16; i += 32) {
      const bool two = i + 16 < r16;
      for (int64_t e = 0; e < dv16; e += 32) {
        const bool wide = e + 16 < dv16;
        float* a0 = acc + i * dv16 + e;
        float* a1 = a0 + 16 * dv16;
        _tile_loadd(0, a0, ab);
        if (wide) _tile_loadd(1, a0 + 16, ab);
        if (two) {
          _tile_loadd(2, a1, ab);
          if (wide) _tile_loadd(3, a1 + 16, ab);
        }
        for (int64_t u = 0; u < nk32; u += 32) {
          const uint16_t* vu = v + (u / 2 * dv16 + e) * 2;
          _tile_loadd(4, p + i * kBlockK + u, pb);
          _tile_loadd(6, vu, vb);
          _tile_dpbf16ps(0, 4, 6);
          if (wide) {
            _tile_loadd(7, vu + 32, vb);
            _tile_dpbf16ps(1, 4, 7);
          }
          if (two) {
            _tile_loadd(5, p + (i + 16) * kBlockK + u, pb);
            _tile_dpbf16ps(2, 5, 6);
            if (wide) _tile_dpbf16ps(3, 5, 7);
          }
        }
        _tile_stored(0, a0, ab);
        if (wide) _tile_stored(1, a0 + 16, ab);
        if (two) {
          _tile_stored(2, a1, ab);
          if (wide) _tile_stored(3, a1 + 16, ab);
        }
      }
    }
  }

  I2I_AMX I2I_FLATTEN static void rows(const HeadView<uint16_t>& h, int64_t q0, int64_t q1, float scale,
                                       bool causal, Scratch<uint16_t>& sc) {
    rows_avx512<AmxBf16>(h, q0, q1, scale, causal, sc);
  }
};

inline void convert_row(const float* src, float* dst, int64_t n) {
  std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
}
inline void convert_row(const float* src, uint16_t* dst, int64_t n) {
  to_bf16_serial(src, dst, n);
}

// Query rows a task of kernel K takes (at most kBlockQ): AMX takes 32, so that S (32 KB) stays in L1.
template <class K>
constexpr int64_t kBlockRows() {
  if constexpr (K::kTiles)
    return 32;
  else
    return kBlockQ;
}

// Packs K and V per (batch, head) for kernel K and runs K::rows over (batch, head, query block).
template <class K>
Tensor run_attention(const Tensor& q, const Tensor& k, const Tensor& v, int heads, float scale, bool causal) {
  using T = typename K::T;
  constexpr int64_t P = K::kPair;
  const int64_t b = q.dim(0), tq = q.dim(1), tk = k.dim(1);
  const int64_t d = q.dim(2) / heads, dv = v.dim(2) / heads;
  // AMX: V gets a column of ones after its dv columns, whose product with P is the softmax sum.
  const int64_t dq = round_up(d, K::kDAlign), tkp = round_up(tk, K::kKeyAlign),
                dv16 = round_up(dv + (K::kOnesColumn ? 1 : 0), 16);
  Tensor out = Tensor::empty({b, tq, v.dim(2)});
  if (out.numel() == 0) return out;
  // Per head, zero padded: K as [dq / P][tkp][P] and V as [tkp / P][dv16][P] (P = 1: K^T and V).
  const int64_t kn = dq * tkp, vn = tkp * dv16;
  // Tensor storage (the arena: the same buffers every step, no zero fill; every element is written below).
  constexpr DType kPacked = std::is_same_v<T, float> ? DType::F32 : DType::BF16;
  Tensor kbuf = Tensor::empty({b * heads * kn}, kPacked), vbuf = Tensor::empty({b * heads * vn}, kPacked);
  T* const kpk = kbuf.data<T>();
  T* const vpk = vbuf.data<T>();
  const float* kp = k.data<float>();
  const float* vp = v.data<float>();
  // Each thread's group buffers, allocated here: an allocation failing inside a parallel region would end
  // the program instead of reaching the caller.
  const int threads = omp_get_max_threads();
  std::vector<std::vector<T>> k_groups(static_cast<size_t>(threads)), v_groups(static_cast<size_t>(threads));
  for (int t = 0; t < threads; ++t) {
    k_groups[static_cast<size_t>(t)].resize(static_cast<size_t>(16 * dq));
    v_groups[static_cast<size_t>(t)].resize(static_cast<size_t>(16 * dv16));
  }
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t bi = 0; bi < b; ++bi)
    for (int64_t hi = 0; hi < heads; ++hi) {
      T* kd = kpk + (bi * heads + hi) * kn;
      T* vd = vpk + (bi * heads + hi) * vn;
      // Groups of 16 keys: their rows of K and V converted (zero padded; bf16: to_bf16_serial, the same
      // bits as K::cvt), then spread into the packed layouts. In each layout a run of P elements of one
      // key (k_index of a multiple of P) is followed by the next key's run.
      // The buffers start zero: the padding columns are never written, and the rows past the last key
      // are zeroed again (the group after it, if any, is all padding).
      std::vector<T>& kt = k_groups[static_cast<size_t>(omp_get_thread_num())];
      std::vector<T>& vt = v_groups[static_cast<size_t>(omp_get_thread_num())];
      for (int64_t j0 = 0; j0 < tkp; j0 += 16) {
        const int64_t keys = std::clamp<int64_t>(tk - j0, 0, 16);
        for (int64_t r = 0; r < keys; ++r) {
          const int64_t j = j0 + r;
          convert_row(kp + (bi * tk + j) * heads * d + hi * d, kt.data() + r * dq, d);
          convert_row(vp + (bi * tk + j) * heads * dv + hi * dv, vt.data() + r * dv16, dv);
          if constexpr (K::kOnesColumn) vt[static_cast<size_t>(r * dv16 + dv)] = K::cvt(1.0f);
        }
        if (keys < 16) {
          std::fill(kt.begin() + keys * dq, kt.end(), T{0});
          std::fill(vt.begin() + keys * dv16, vt.end(), T{0});
        }
        for (int64_t c = 0; c < dq; c += P) {
          T* dst = kd + K::k_index(c, j0, dq, tkp);
          for (int64_t r = 0; r < 16; ++r)
            for (int64_t u = 0; u < P; ++u) dst[r * P + u] = kt[static_cast<size_t>(r * dq + c + u)];
        }
        // V: [tkp / P][dv16][P], so the P keys of a step interleave.
        for (int64_t r = 0; r < 16; r += P) {
          T* dst = vd + (j0 + r) / P * dv16 * P;
          for (int64_t e = 0; e < dv16; ++e)
            for (int64_t u = 0; u < P; ++u) dst[e * P + u] = vt[static_cast<size_t>((r + u) * dv16 + e)];
        }
      }
    }
  const int64_t block_q = kBlockRows<K>(), qblocks = (tq + block_q - 1) / block_q;
  const float* qp = q.data<float>();
  float* op = out.data<float>();
  const HeadView<T> first{qp, kpk, vpk, op, heads * d, heads * dv, tk, tkp, d, dv, dv16};
  std::vector<Scratch<T>> scratches;  // one per thread, allocated outside the parallel region (as above)
  scratches.reserve(static_cast<size_t>(threads));
  for (int t = 0; t < threads; ++t) scratches.emplace_back(dq, dv16);
#pragma omp parallel
  {
    Scratch<T>& scratch = scratches[static_cast<size_t>(omp_get_thread_num())];
    K::begin();
#pragma omp for collapse(3) schedule(dynamic)
    for (int64_t bi = 0; bi < b; ++bi)
      for (int64_t hi = 0; hi < heads; ++hi)
        for (int64_t qb = 0; qb < qblocks; ++qb) {
          const int64_t q0 = qb * block_q;
          HeadView<T> h = first;
          h.q += bi * tq * heads * d + hi * d;
          h.k += (bi * heads + hi) * kn;
          h.v += (bi * heads + hi) * vn;
          h.out += bi * tq * heads * dv + hi * dv;
          K::rows(h, q0, std::min(tq, q0 + block_q), scale, causal, scratch);
        }
    K::end();
  }
  return out;
}

Tensor run_kernel(AttentionKernel kernel, const Tensor& q, const Tensor& k, const Tensor& v, int heads,
                  float scale, bool causal) {
  switch (kernel) {
    case AttentionKernel::Amx:
      return run_attention<AmxBf16>(q, k, v, heads, scale, causal);
    case AttentionKernel::Avx512Bf16:
      return run_attention<Avx512Bf16>(q, k, v, heads, scale, causal);
    case AttentionKernel::Avx512:
      return run_attention<Avx512F32>(q, k, v, heads, scale, causal);
    case AttentionKernel::Portable:
      break;
  }
  return run_attention<Portable>(q, k, v, heads, scale, causal);
}

// Columns [h * w, (h + 1) * w) of rows 0 .. rows of batch 0 of x [b, t, c], as a [1, rows, w] tensor.
Tensor head_slice(const Tensor& x, int64_t rows, int64_t w) {
  Tensor out = Tensor::empty({1, rows, w});
  for (int64_t i = 0; i < rows; ++i)
    std::memcpy(out.data<float>() + i * w, x.data<float>() + i * x.dim(2), static_cast<size_t>(w) * 4);
  return out;
}

// The bf16 kernels timed per shape (tk, d, dv, causal), and the choice made for each.
using ShapeKey = std::tuple<int64_t, int64_t, int64_t, bool>;
std::mutex g_choice_mutex;
std::map<ShapeKey, AttentionKernel> g_choices;

// The CPU time of the calling thread, in seconds: unlike wall time, not stretched when other processes
// take the core.
double thread_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// Times the candidates on one head of this call (up to 4 query blocks, all keys; best of three,
// interleaved) on the calling thread alone, by its CPU time, so that a loaded machine does not make the
// slower kernel look faster, and returns the fastest. The first candidate (the preferred one) is kept
// unless another is more than 10 % faster, so that a near tie does not make the choice, and the bits, vary
// between runs.
AttentionKernel timed_choice(const std::vector<AttentionKernel>& candidates, const Tensor& q, const Tensor& k,
                             const Tensor& v, int heads, float scale, bool causal) {
  const int64_t d = q.dim(2) / heads, dv = v.dim(2) / heads;
  const ShapeKey key{k.dim(1), d, dv, causal};
  std::lock_guard<std::mutex> lock(g_choice_mutex);
  if (auto it = g_choices.find(key); it != g_choices.end()) return it->second;
  // A choice an earlier run on this machine made for this shape and these candidates is kept: the same
  // kernels give the same bits for the same seed (kernel_choice_cache.h).
  std::string what = "attention tk " + std::to_string(k.dim(1)) + " d " + std::to_string(d) + " dv " +
                     std::to_string(dv) + (causal ? " causal" : "") + " candidates";
  for (size_t c = 0; c < candidates.size(); ++c) {
    what += c ? "," : " ";
    what += kernel_name(candidates[c]);
  }
  const char* verbose = std::getenv("I2I_KERNELS_VERBOSE");
  const bool say = verbose && *verbose && *verbose != '0';
  if (const auto cached = cached_kernel_choice(what))
    for (AttentionKernel c : candidates)
      if (*cached == kernel_name(c)) {
        if (say)
          std::fprintf(stderr, "i2i: %s -> %s (kept in kernel-choices.txt)\n", what.c_str(), cached->c_str());
        g_choices.emplace(key, c);
        return c;
      }
  const int64_t rows = std::min<int64_t>(q.dim(1), 4 * kBlockQ);
  const Tensor qs = head_slice(q, rows, d), ks = head_slice(k, k.dim(1), d), vs = head_slice(v, v.dim(1), dv);
  std::vector<double> best(candidates.size(), 1e30);
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  for (int rep = 0; rep < 3; ++rep)
    for (size_t c = 0; c < candidates.size(); ++c) {
      const double t0 = thread_seconds();
      run_kernel(candidates[c], qs, ks, vs, 1, scale, causal);
      best[c] = std::min(best[c], thread_seconds() - t0);
    }
  omp_set_num_threads(threads);
  size_t pick = 0;
  for (size_t c = 1; c < candidates.size(); ++c)
    if (best[c] * 1.1 < best[pick]) pick = c;
  if (say) {
    std::string line = "i2i: " + what + ":";
    for (size_t c = 0; c < candidates.size(); ++c)
      line += std::string(" ") + kernel_name(candidates[c]) + " " + std::to_string(best[c] * 1e3) + " ms";
    std::fprintf(stderr, "%s -> %s\n", line.c_str(), kernel_name(candidates[pick]));
  }
  g_choices.emplace(key, candidates[pick]);
  store_kernel_choice(what, kernel_name(candidates[pick]));
  return candidates[pick];
}

}  // namespace

void forget_timed_choices() {
  std::lock_guard<std::mutex> lock(g_choice_mutex);
  g_choices.clear();
  forget_kernel_choice_cache();
}

void force_portable_kernels(bool on) {
  g_force_portable = on;
}

Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, int heads, float scale, bool causal,
                 Precision precision) {
  if (g_force_portable) return run_attention<Portable>(q, k, v, heads, scale, causal);
  const bool bf16 = precision == Precision::BF16;
  if (const auto forced = kernel_overrides().attention) {
    if (!kernel_available(*forced))
      throw Error(std::string("I2I_KERNELS: attention:") + kernel_name(*forced) + " needs " +
                  (*forced == AttentionKernel::Amx          ? "AMX-BF16 (with the OS's permission)"
                   : *forced == AttentionKernel::Avx512Bf16 ? "AVX512_BF16"
                                                            : "AVX-512") +
                  ", which this CPU does not offer");
    const bool bf16_kernel = *forced == AttentionKernel::Amx || *forced == AttentionKernel::Avx512Bf16;
    if (bf16 || !bf16_kernel) return run_kernel(*forced, q, k, v, heads, scale, causal);
  }
  if (bf16) {
    std::vector<AttentionKernel> candidates;
    if (kernel_available(AttentionKernel::Amx)) candidates.push_back(AttentionKernel::Amx);
    if (kernel_available(AttentionKernel::Avx512Bf16)) candidates.push_back(AttentionKernel::Avx512Bf16);
    if (candidates.size() > 1 && q.numel() > 0 && k.numel() > 0)
      return run_kernel(timed_choice(candidates, q, k, v, heads, scale, causal), q, k, v, heads, scale,
                        causal);
    if (!candidates.empty()) return run_kernel(candidates[0], q, k, v, heads, scale, causal);
  }
  if (kernel_available(AttentionKernel::Avx512))
    return run_attention<Avx512F32>(q, k, v, heads, scale, causal);
  return run_attention<Portable>(q, k, v, heads, scale, causal);
}

}  // namespace i2i::cpu
