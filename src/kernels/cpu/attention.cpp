// Multi-head attention, tiled with an online softmax (flash-attention style): for each block of query
// rows the keys are visited in blocks, keeping only a running maximum, a running sum and the output
// accumulator, so memory is O(block) instead of O(Tq x Tk). Each output row is computed by exactly one
// thread in a fixed order, so results do not depend on the number of threads.
//
// K is packed per head as K^T [D][Tk16] and V as [Tk16][Dv16] (Tk16, Dv16: rounded up to 16, padding
// zero), so the block products run on whole 16-float vectors. Two block kernels: AVX-512 intrinsics
// (register-blocked Q K^T and P V, vectorised exp), chosen at run time, and a portable one.
//
// bf16 variant (for bf16 models on CPUs with AVX512_BF16): Q, K, V and the probabilities P are rounded to
// bf16 and both products use vdpbf16ps (pairs of bf16 products summed into float32 accumulators); the
// softmax (scores, running max, exp, sums) and the output accumulation stay float32. K is packed as pairs
// of feature rows [D/2][Tk16][2] and V as pairs of key rows [Tk16/2][Dv16][2], so one 64-byte load holds
// 16 columns x 2 reduction steps.
// GCC 12's AVX-512 headers use _mm512_undefined_ps() as the pass-through operand of masked builtins,
// which trips -Wmaybe-uninitialized (GCC bug 105593) at the header's lines; silence it there only.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "core/dtype.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/vmath.h"

namespace i2i::cpu {
namespace {

constexpr int64_t kBlockQ = 64;
constexpr int64_t kBlockK = 256;
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

bool g_force_portable = false;

inline int64_t round16(int64_t n) {
  return (n + 15) / 16 * 16;
}

struct HeadView {
  const float* q;   // row i at q + i * q_stride, d columns
  const float* kt;  // packed K^T: [d][tk16]
  const float* v;   // packed V: [tk16][dv16]
  float* out;       // row i at out + i * out_stride, dv columns
  int64_t q_stride, out_stride;
  int64_t tk, tk16, d, dv, dv16;
};

// Per-thread scratch for one block of query rows.
struct Scratch {
  std::vector<float> q, s, acc, m, l;
  Scratch(int64_t d, int64_t dv16)
      : q(static_cast<size_t>(kBlockQ * d)),
        s(static_cast<size_t>(kBlockQ * kBlockK)),
        acc(static_cast<size_t>(kBlockQ * dv16)),
        m(kBlockQ),
        l(kBlockQ) {}
};

// ---- portable kernel ----

void rows_portable(const HeadView& h, int64_t q0, int64_t q1, float scale, bool causal, Scratch& sc) {
  const int64_t rows = q1 - q0, d = h.d, dv16 = h.dv16;
  float *s = sc.s.data(), *acc = sc.acc.data(), *m = sc.m.data(), *l = sc.l.data();
  std::fill(m, m + rows, kNegInf);
  std::fill(l, l + rows, 0.0f);
  std::fill(acc, acc + rows * dv16, 0.0f);
  const int64_t kend = causal ? std::min(h.tk, q1) : h.tk;
  for (int64_t k0 = 0; k0 < kend; k0 += kBlockK) {
    const int64_t nk = std::min(kBlockK, kend - k0);
    for (int64_t i = 0; i < rows; ++i) {
      float* si = s + i * kBlockK;
      const float* qi = h.q + (q0 + i) * h.q_stride;
      for (int64_t j = 0; j < nk; ++j) si[j] = 0.0f;
      for (int64_t c = 0; c < d; ++c) {
        const float qc = qi[c] * scale;
        const float* kc = h.kt + c * h.tk16 + k0;
        for (int64_t j = 0; j < nk; ++j) si[j] += qc * kc[j];
      }
    }
    for (int64_t i = 0; i < rows; ++i) {
      const int64_t limit = causal ? std::min(nk, q0 + i - k0 + 1) : nk;
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
  for (int64_t i = 0; i < rows; ++i) {
    const float inv = 1.0f / l[i];
    float* oi = h.out + (q0 + i) * h.out_stride;
    for (int64_t e = 0; e < h.dv; ++e) oi[e] = acc[i * dv16 + e] * inv;
  }
}

// ---- AVX-512 kernel ----

#define I2I_AVX512 __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,fma")))

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
I2I_AVX512 inline float hmax16(__m512 v) {
  alignas(64) float t[16];
  _mm512_store_ps(t, v);
  float r = t[0];
  for (int i = 1; i < 16; ++i) r = std::max(r, t[i]);
  return r;
}
I2I_AVX512 inline float hsum16(__m512 v) {
  alignas(64) float t[16];
  _mm512_store_ps(t, v);
  float r = 0.0f;
  for (int i = 0; i < 16; ++i) r += t[i];
  return r;
}

// s[r][0 .. 16 NC) = sum_c q[r][c] kt[c][0 .. 16 NC) for R rows (q already scaled).
template <int R, int NC>
I2I_AVX512 inline void qk_tile(const float* q, int64_t d, const float* kt, int64_t kt_stride, float* s) {
  __m512 acc[R][NC];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < NC; ++c) acc[r][c] = _mm512_setzero_ps();
  for (int64_t k = 0; k < d; ++k) {
    __m512 kv[NC];
    for (int c = 0; c < NC; ++c) kv[c] = _mm512_loadu_ps(kt + k * kt_stride + 16 * c);
    for (int r = 0; r < R; ++r) {
      const __m512 qv = _mm512_set1_ps(q[r * d + k]);
      for (int c = 0; c < NC; ++c) acc[r][c] = _mm512_fmadd_ps(qv, kv[c], acc[r][c]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < NC; ++c) _mm512_storeu_ps(s + r * kBlockK + 16 * c, acc[r][c]);
}

template <int R>
I2I_AVX512 void qk_rows(const float* q, int64_t d, const float* kt, int64_t kt_stride, int64_t nk16,
                        float* s) {
  int64_t j = 0;
  for (; j + 32 <= nk16; j += 32) qk_tile<R, 2>(q, d, kt + j, kt_stride, s + j);
  if (j < nk16) qk_tile<R, 1>(q, d, kt + j, kt_stride, s + j);
}

// acc[r][0 .. 16 NC) += sum_j p[r][j] v[j][0 .. 16 NC) for R rows, j < nk16.
template <int R, int NC>
I2I_AVX512 inline void pv_tile(const float* p, const float* v, int64_t v_stride, int64_t nk16, float* acc,
                               int64_t acc_stride) {
  __m512 o[R][NC];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < NC; ++c) o[r][c] = _mm512_loadu_ps(acc + r * acc_stride + 16 * c);
  for (int64_t j = 0; j < nk16; ++j) {
    __m512 vv[NC];
    for (int c = 0; c < NC; ++c) vv[c] = _mm512_loadu_ps(v + j * v_stride + 16 * c);
    for (int r = 0; r < R; ++r) {
      const __m512 pv = _mm512_set1_ps(p[r * kBlockK + j]);
      for (int c = 0; c < NC; ++c) o[r][c] = _mm512_fmadd_ps(pv, vv[c], o[r][c]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < NC; ++c) _mm512_storeu_ps(acc + r * acc_stride + 16 * c, o[r][c]);
}

template <int R>
I2I_AVX512 void pv_rows(const float* p, const float* v, int64_t dv16, int64_t nk16, float* acc) {
  int64_t e = 0;
  for (; e + 64 <= dv16; e += 64) pv_tile<R, 4>(p, v + e, dv16, nk16, acc + e, dv16);
  switch ((dv16 - e) / 16) {
    case 3:
      pv_tile<R, 3>(p, v + e, dv16, nk16, acc + e, dv16);
      break;
    case 2:
      pv_tile<R, 2>(p, v + e, dv16, nk16, acc + e, dv16);
      break;
    case 1:
      pv_tile<R, 1>(p, v + e, dv16, nk16, acc + e, dv16);
      break;
    default:
      break;
  }
}

// Row blocks of up to 6 (Q K^T: 6 x 32 accumulators; P V: 6 x 64).
template <template <int> class F, typename... Args>
I2I_AVX512 void for_row_blocks(int64_t rows, Args... args) {
  int64_t i = 0;
  for (; i + 6 <= rows; i += 6) F<6>::run(i, args...);
  switch (rows - i) {
    case 5:
      F<5>::run(i, args...);
      break;
    case 4:
      F<4>::run(i, args...);
      break;
    case 3:
      F<3>::run(i, args...);
      break;
    case 2:
      F<2>::run(i, args...);
      break;
    case 1:
      F<1>::run(i, args...);
      break;
    default:
      break;
  }
}

template <int R>
struct QkBlock {
  I2I_AVX512 static void run(int64_t i, const float* q, int64_t d, const float* kt, int64_t kt_stride,
                             int64_t nk16, float* s) {
    qk_rows<R>(q + i * d, d, kt, kt_stride, nk16, s + i * kBlockK);
  }
};

template <int R>
struct PvBlock {
  I2I_AVX512 static void run(int64_t i, const float* p, const float* v, int64_t dv16, int64_t nk16,
                             float* acc) {
    pv_rows<R>(p + i * kBlockK, v, dv16, nk16, acc + i * dv16);
  }
};

I2I_AVX512 void rows_avx512(const HeadView& h, int64_t q0, int64_t q1, float scale, bool causal,
                            Scratch& sc) {
  const int64_t rows = q1 - q0, d = h.d, dv16 = h.dv16;
  float *qs = sc.q.data(), *s = sc.s.data(), *acc = sc.acc.data(), *m = sc.m.data(), *l = sc.l.data();
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t c = 0; c < d; ++c) qs[i * d + c] = h.q[(q0 + i) * h.q_stride + c] * scale;
  std::fill(m, m + rows, kNegInf);
  std::fill(l, l + rows, 0.0f);
  std::fill(acc, acc + rows * dv16, 0.0f);
  const int64_t kend = causal ? std::min(h.tk, q1) : h.tk;
  for (int64_t k0 = 0; k0 < kend; k0 += kBlockK) {
    const int64_t nk = std::min(kBlockK, kend - k0), nk16 = round16(nk);
    for_row_blocks<QkBlock>(rows, static_cast<const float*>(qs), d, h.kt + k0, h.tk16, nk16, s);
    // Online softmax: P = exp(S - running max), zero beyond each row's last visible key.
    for (int64_t i = 0; i < rows; ++i) {
      float* si = s + i * kBlockK;
      const int64_t limit = causal ? std::min(nk, q0 + i - k0 + 1) : nk;
      if (limit <= 0) {
        std::fill(si, si + nk16, 0.0f);
        continue;
      }
      __m512 mv = _mm512_set1_ps(kNegInf);
      int64_t j = 0;
      for (; j + 16 <= limit; j += 16) mv = _mm512_max_ps(mv, _mm512_loadu_ps(si + j));
      const __mmask16 tail = static_cast<__mmask16>((1u << (limit - j)) - 1u);
      if (j < limit) mv = _mm512_max_ps(mv, _mm512_mask_loadu_ps(mv, tail, si + j));
      const float mx = std::max(m[i], hmax16(mv));
      const float corr = m[i] == kNegInf ? 0.0f : exp_approx(m[i] - mx);
      m[i] = mx;
      const __m512 mxv = _mm512_set1_ps(mx);
      __m512 sum = _mm512_setzero_ps();
      for (j = 0; j + 16 <= limit; j += 16) {
        const __m512 pv = exp16(_mm512_sub_ps(_mm512_loadu_ps(si + j), mxv));
        _mm512_storeu_ps(si + j, pv);
        sum = _mm512_add_ps(sum, pv);
      }
      if (j < limit) {
        const __m512 pv = _mm512_maskz_mov_ps(tail, exp16(_mm512_sub_ps(_mm512_loadu_ps(si + j), mxv)));
        _mm512_storeu_ps(si + j, pv);
        sum = _mm512_add_ps(sum, pv);
        j += 16;
      }
      for (; j < nk16; j += 16) _mm512_storeu_ps(si + j, _mm512_setzero_ps());
      l[i] = l[i] * corr + hsum16(sum);
      if (corr != 1.0f) {
        const __m512 cv = _mm512_set1_ps(corr);
        float* ai = acc + i * dv16;
        for (int64_t e = 0; e < dv16; e += 16)
          _mm512_storeu_ps(ai + e, _mm512_mul_ps(_mm512_loadu_ps(ai + e), cv));
      }
    }
    for_row_blocks<PvBlock>(rows, static_cast<const float*>(s), h.v + k0 * dv16, dv16, nk16, acc);
  }
  for (int64_t i = 0; i < rows; ++i) {
    const float inv = 1.0f / l[i];
    float* oi = h.out + (q0 + i) * h.out_stride;
    for (int64_t e = 0; e < h.dv; ++e) oi[e] = acc[i * dv16 + e] * inv;
  }
}

// ---- AVX512_BF16 kernel ----

#define I2I_AVX512BF16 __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,fma,avx512bf16")))

struct HeadViewBf16 {
  const float* q;     // row i at q + i * q_stride, d columns (float32, rounded here)
  const uint16_t* k;  // packed K pairs: [d2][tk16][2]
  const uint16_t* v;  // packed V pairs: [tk16 / 2][dv16][2]
  float* out;
  int64_t q_stride, out_stride;
  int64_t tk, tk16, d, d2, dv, dv16;
};

struct ScratchBf16 {
  std::vector<uint16_t> q, p;
  std::vector<float> s, acc, m, l;
  ScratchBf16(int64_t d2, int64_t dv16)
      : q(static_cast<size_t>(kBlockQ * 2 * d2)),
        p(static_cast<size_t>(kBlockQ * kBlockK)),
        s(static_cast<size_t>(kBlockQ * kBlockK)),
        acc(static_cast<size_t>(kBlockQ * dv16)),
        m(kBlockQ),
        l(kBlockQ) {}
};

I2I_AVX512BF16 inline __m512bh bcast_pair(const uint16_t* p) {
  int32_t w;
  std::memcpy(&w, p, sizeof w);
  return (__m512bh)_mm512_set1_epi32(w);
}

// s[r][0 .. 16 NC) = sum_c q[r][c] k[c][0 .. 16 NC) over pairs of c (q already scaled, bf16).
template <int R, int NC>
I2I_AVX512BF16 inline void qk_tile_bf16(const uint16_t* q, int64_t d2, const uint16_t* k, int64_t k_stride,
                                        float* s) {
  __m512 acc[R][NC];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < NC; ++c) acc[r][c] = _mm512_setzero_ps();
  for (int64_t t = 0; t < d2; ++t) {
    __m512bh kv[NC];
    for (int c = 0; c < NC; ++c) kv[c] = (__m512bh)_mm512_loadu_si512(k + t * k_stride + 32 * c);
    for (int r = 0; r < R; ++r) {
      const __m512bh qv = bcast_pair(q + r * 2 * d2 + 2 * t);
      for (int c = 0; c < NC; ++c) acc[r][c] = _mm512_dpbf16_ps(acc[r][c], qv, kv[c]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < NC; ++c) _mm512_storeu_ps(s + r * kBlockK + 16 * c, acc[r][c]);
}

// acc[r][0 .. 16 NC) += sum_j p[r][j] v[j][0 .. 16 NC) over pairs of keys j < nk16.
template <int R, int NC>
I2I_AVX512BF16 inline void pv_tile_bf16(const uint16_t* p, const uint16_t* v, int64_t v_stride, int64_t nk16,
                                        float* acc, int64_t acc_stride) {
  __m512 o[R][NC];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < NC; ++c) o[r][c] = _mm512_loadu_ps(acc + r * acc_stride + 16 * c);
  for (int64_t t = 0; t < nk16 / 2; ++t) {
    __m512bh vv[NC];
    for (int c = 0; c < NC; ++c) vv[c] = (__m512bh)_mm512_loadu_si512(v + t * v_stride + 32 * c);
    for (int r = 0; r < R; ++r) {
      const __m512bh pv = bcast_pair(p + r * kBlockK + 2 * t);
      for (int c = 0; c < NC; ++c) o[r][c] = _mm512_dpbf16_ps(o[r][c], pv, vv[c]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < NC; ++c) _mm512_storeu_ps(acc + r * acc_stride + 16 * c, o[r][c]);
}

template <int R>
struct QkBlockBf16 {
  I2I_AVX512BF16 static void run(int64_t i, const uint16_t* q, int64_t d2, const uint16_t* k,
                                 int64_t k_stride, int64_t nk16, float* s) {
    q += i * 2 * d2;
    s += i * kBlockK;
    int64_t j = 0;
    for (; j + 32 <= nk16; j += 32) qk_tile_bf16<R, 2>(q, d2, k + 2 * j, k_stride, s + j);
    if (j < nk16) qk_tile_bf16<R, 1>(q, d2, k + 2 * j, k_stride, s + j);
  }
};

template <int R>
struct PvBlockBf16 {
  I2I_AVX512BF16 static void run(int64_t i, const uint16_t* p, const uint16_t* v, int64_t dv16, int64_t nk16,
                                 float* acc) {
    p += i * kBlockK;
    acc += i * dv16;
    const int64_t vs = 2 * dv16;
    int64_t e = 0;
    for (; e + 64 <= dv16; e += 64) pv_tile_bf16<R, 4>(p, v + 2 * e, vs, nk16, acc + e, dv16);
    switch ((dv16 - e) / 16) {
      case 3:
        pv_tile_bf16<R, 3>(p, v + 2 * e, vs, nk16, acc + e, dv16);
        break;
      case 2:
        pv_tile_bf16<R, 2>(p, v + 2 * e, vs, nk16, acc + e, dv16);
        break;
      case 1:
        pv_tile_bf16<R, 1>(p, v + 2 * e, vs, nk16, acc + e, dv16);
        break;
      default:
        break;
    }
  }
};

I2I_AVX512BF16 void rows_bf16(const HeadViewBf16& h, int64_t q0, int64_t q1, float scale, bool causal,
                              ScratchBf16& sc) {
  const int64_t rows = q1 - q0, d2 = h.d2, dv16 = h.dv16;
  uint16_t *qs = sc.q.data(), *pb = sc.p.data();
  float *s = sc.s.data(), *acc = sc.acc.data(), *m = sc.m.data(), *l = sc.l.data();
  const int64_t d = h.d;
  for (int64_t i = 0; i < rows; ++i) {
    const float* qi = h.q + (q0 + i) * h.q_stride;
    for (int64_t c = 0; c < 2 * d2; ++c)
      qs[i * 2 * d2 + c] = c < d ? f32_to_bf16(qi[c] * scale) : uint16_t{0};
  }
  std::fill(m, m + rows, kNegInf);
  std::fill(l, l + rows, 0.0f);
  std::fill(acc, acc + rows * dv16, 0.0f);
  const int64_t kend = causal ? std::min(h.tk, q1) : h.tk;
  for (int64_t k0 = 0; k0 < kend; k0 += kBlockK) {
    const int64_t nk = std::min(kBlockK, kend - k0), nk16 = round16(nk);
    for_row_blocks<QkBlockBf16>(rows, static_cast<const uint16_t*>(qs), d2, h.k + 2 * k0, 2 * h.tk16, nk16,
                                s);
    for (int64_t i = 0; i < rows; ++i) {
      float* si = s + i * kBlockK;
      uint16_t* pi = pb + i * kBlockK;
      const int64_t limit = causal ? std::min(nk, q0 + i - k0 + 1) : nk;
      if (limit <= 0) {
        std::fill(pi, pi + nk16, uint16_t{0});
        continue;
      }
      __m512 mv = _mm512_set1_ps(kNegInf);
      int64_t j = 0;
      for (; j + 16 <= limit; j += 16) mv = _mm512_max_ps(mv, _mm512_loadu_ps(si + j));
      const __mmask16 tail = static_cast<__mmask16>((1u << (limit - j)) - 1u);
      if (j < limit) mv = _mm512_max_ps(mv, _mm512_mask_loadu_ps(mv, tail, si + j));
      const float mx = std::max(m[i], hmax16(mv));
      const float corr = m[i] == kNegInf ? 0.0f : exp_approx(m[i] - mx);
      m[i] = mx;
      const __m512 mxv = _mm512_set1_ps(mx);
      __m512 sum = _mm512_setzero_ps();
      // P rounded to bf16; the normaliser sums the rounded weights, so the output stays a weighted mean.
      for (j = 0; j < nk16; j += 16) {
        __m512 pv = exp16(_mm512_sub_ps(_mm512_loadu_ps(si + j), mxv));
        if (j + 16 > limit)
          pv = _mm512_maskz_mov_ps(j < limit ? static_cast<__mmask16>((1u << (limit - j)) - 1u) : 0, pv);
        const __m256bh pbv = _mm512_cvtneps_pbh(pv);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(pi + j), (__m256i)pbv);
        sum = _mm512_add_ps(sum, _mm512_cvtpbh_ps(pbv));
      }
      l[i] = l[i] * corr + hsum16(sum);
      if (corr != 1.0f) {
        const __m512 cv = _mm512_set1_ps(corr);
        float* ai = acc + i * dv16;
        for (int64_t e = 0; e < dv16; e += 16)
          _mm512_storeu_ps(ai + e, _mm512_mul_ps(_mm512_loadu_ps(ai + e), cv));
      }
    }
    for_row_blocks<PvBlockBf16>(rows, static_cast<const uint16_t*>(pb), h.v + k0 * dv16, dv16, nk16, acc);
  }
  for (int64_t i = 0; i < rows; ++i) {
    const float inv = 1.0f / l[i];
    float* oi = h.out + (q0 + i) * h.out_stride;
    for (int64_t e = 0; e < h.dv; ++e) oi[e] = acc[i * dv16 + e] * inv;
  }
}

Tensor attention_bf16(const Tensor& q, const Tensor& k, const Tensor& v, int heads, float scale,
                      bool causal) {
  const int64_t b = q.dim(0), tq = q.dim(1), tk = k.dim(1);
  const int64_t d = q.dim(2) / heads, dv = v.dim(2) / heads;
  const int64_t tk16 = round16(tk), dv16 = round16(dv), d2 = (d + 1) / 2;
  Tensor out = Tensor::empty({b, tq, v.dim(2)});
  if (out.numel() == 0) return out;
  std::vector<uint16_t> kpk(static_cast<size_t>(b * heads * d2 * tk16 * 2));
  std::vector<uint16_t> vpk(static_cast<size_t>(b * heads * tk16 * dv16));
  const float* kp = k.data<float>();
  const float* vp = v.data<float>();
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t bi = 0; bi < b; ++bi)
    for (int64_t hi = 0; hi < heads; ++hi) {
      uint16_t* kd = kpk.data() + (bi * heads + hi) * d2 * tk16 * 2;
      uint16_t* vd = vpk.data() + (bi * heads + hi) * tk16 * dv16;
      for (int64_t j = 0; j < tk16; ++j) {
        const float* ks = kp + (bi * tk + j) * heads * d + hi * d;
        const float* vs = vp + (bi * tk + j) * heads * dv + hi * dv;
        for (int64_t c = 0; c < 2 * d2; ++c)
          kd[(c / 2) * tk16 * 2 + j * 2 + (c & 1)] = j < tk && c < d ? f32_to_bf16(ks[c]) : uint16_t{0};
        for (int64_t e = 0; e < dv16; ++e)
          vd[(j / 2) * dv16 * 2 + e * 2 + (j & 1)] = j < tk && e < dv ? f32_to_bf16(vs[e]) : uint16_t{0};
      }
    }
  const int64_t qblocks = (tq + kBlockQ - 1) / kBlockQ;
  const float* qp = q.data<float>();
  float* op = out.data<float>();
#pragma omp parallel
  {
    ScratchBf16 scratch(d2, dv16);
#pragma omp for collapse(3) schedule(dynamic)
    for (int64_t bi = 0; bi < b; ++bi)
      for (int64_t hi = 0; hi < heads; ++hi)
        for (int64_t qb = 0; qb < qblocks; ++qb) {
          HeadViewBf16 h{qp + bi * tq * heads * d + hi * d,
                         kpk.data() + (bi * heads + hi) * d2 * tk16 * 2,
                         vpk.data() + (bi * heads + hi) * tk16 * dv16,
                         op + bi * tq * heads * dv + hi * dv,
                         heads * d,
                         heads * dv,
                         tk,
                         tk16,
                         d,
                         d2,
                         dv,
                         dv16};
          const int64_t q0 = qb * kBlockQ, q1 = std::min(tq, q0 + kBlockQ);
          rows_bf16(h, q0, q1, scale, causal, scratch);
        }
  }
  return out;
}

}  // namespace

void force_portable_kernels(bool on) {
  g_force_portable = on;
}

Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, int heads, float scale, bool causal,
                 Precision precision) {
  static const bool has_bf16 = cpu_has_bf16() && __builtin_cpu_supports("avx512dq") &&
                               __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
  if (precision == Precision::BF16 && has_bf16 && !g_force_portable)
    return attention_bf16(q, k, v, heads, scale, causal);
  static const bool has_avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
                                 __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
  const bool use_avx512 = has_avx512 && !g_force_portable;
  const int64_t b = q.dim(0), tq = q.dim(1), tk = k.dim(1);
  const int64_t d = q.dim(2) / heads, dv = v.dim(2) / heads;
  const int64_t tk16 = round16(tk), dv16 = round16(dv);
  Tensor out = Tensor::empty({b, tq, v.dim(2)});
  if (out.numel() == 0) return out;
  // Packed K^T [b][h][d][tk16] and V [b][h][tk16][dv16], zero padded.
  std::vector<float> kt(static_cast<size_t>(b * heads * d * tk16));
  std::vector<float> vpk(static_cast<size_t>(b * heads * tk16 * dv16));
  const float* kp = k.data<float>();
  const float* vp = v.data<float>();
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t bi = 0; bi < b; ++bi)
    for (int64_t hi = 0; hi < heads; ++hi) {
      float* kd = kt.data() + (bi * heads + hi) * d * tk16;
      float* vd = vpk.data() + (bi * heads + hi) * tk16 * dv16;
      for (int64_t j = 0; j < tk16; ++j) {
        const float* ks = kp + (bi * tk + j) * heads * d + hi * d;
        const float* vs = vp + (bi * tk + j) * heads * dv + hi * dv;
        for (int64_t c = 0; c < d; ++c) kd[c * tk16 + j] = j < tk ? ks[c] : 0.0f;
        for (int64_t e = 0; e < dv16; ++e) vd[j * dv16 + e] = j < tk && e < dv ? vs[e] : 0.0f;
      }
    }
  const int64_t qblocks = (tq + kBlockQ - 1) / kBlockQ;
  const float* qp = q.data<float>();
  float* op = out.data<float>();
#pragma omp parallel
  {
    Scratch scratch(d, dv16);
#pragma omp for collapse(3) schedule(dynamic)
    for (int64_t bi = 0; bi < b; ++bi)
      for (int64_t hi = 0; hi < heads; ++hi)
        for (int64_t qb = 0; qb < qblocks; ++qb) {
          HeadView h{qp + bi * tq * heads * d + hi * d,
                     kt.data() + (bi * heads + hi) * d * tk16,
                     vpk.data() + (bi * heads + hi) * tk16 * dv16,
                     op + bi * tq * heads * dv + hi * dv,
                     heads * d,
                     heads * dv,
                     tk,
                     tk16,
                     d,
                     dv,
                     dv16};
          const int64_t q0 = qb * kBlockQ, q1 = std::min(tq, q0 + kBlockQ);
          if (use_avx512)
            rows_avx512(h, q0, q1, scale, causal, scratch);
          else
            rows_portable(h, q0, q1, scale, causal, scratch);
        }
  }
  return out;
}

}  // namespace i2i::cpu
