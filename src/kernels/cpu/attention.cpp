// Multi-head attention, tiled with an online softmax (flash-attention style): for each block of query
// rows the keys are visited in blocks, keeping only a running maximum, a running sum and the output
// accumulator, so memory is O(block) instead of O(Tq x Tk). Each output row is computed by exactly one
// thread in a fixed order, so results do not depend on the number of threads.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/vmath.h"

namespace i2i::cpu {
namespace {

constexpr int64_t kBlockQ = 32;
constexpr int64_t kBlockK = 256;

struct HeadView {
  const float* q;   // row i at q + i * q_stride, d columns
  const float* kt;  // packed K^T: [d][tk]
  const float* v;   // row j at v + j * v_stride, dv columns
  float* out;       // row i at out + i * out_stride
  int64_t q_stride, v_stride, out_stride;
  int64_t tk, d, dv;
};

// Rows [q0, q1) of one head. `s` holds kBlockQ x kBlockK scores, `acc` kBlockQ x dv.
template <int Dummy>
inline void attend_rows(const HeadView& h, int64_t q0, int64_t q1, float scale, bool causal, float* s,
                        float* acc) {
  const int64_t rows = q1 - q0, d = h.d, dv = h.dv;
  float m[kBlockQ], l[kBlockQ];
  for (int64_t i = 0; i < rows; ++i) {
    m[i] = -std::numeric_limits<float>::infinity();
    l[i] = 0.0f;
  }
  std::fill(acc, acc + rows * dv, 0.0f);
  const int64_t kend = causal ? std::min(h.tk, q1) : h.tk;
  for (int64_t k0 = 0; k0 < kend; k0 += kBlockK) {
    const int64_t nk = std::min(kBlockK, kend - k0);
    // Scores S = scale * Q K^T for this block.
    for (int64_t i = 0; i < rows; ++i) {
      float* si = s + i * kBlockK;
      const float* qi = h.q + (q0 + i) * h.q_stride;
      for (int64_t j = 0; j < nk; ++j) si[j] = 0.0f;
      for (int64_t c = 0; c < d; ++c) {
        const float qc = qi[c] * scale;
        const float* kc = h.kt + c * h.tk + k0;
        for (int64_t j = 0; j < nk; ++j) si[j] += qc * kc[j];
      }
    }
    // Online softmax and accumulation of P V.
    for (int64_t i = 0; i < rows; ++i) {
      const int64_t limit = causal ? std::min(nk, q0 + i - k0 + 1) : nk;
      if (limit <= 0) continue;
      float* si = s + i * kBlockK;
      float mx = m[i];
      for (int64_t j = 0; j < limit; ++j) mx = std::max(mx, si[j]);
      const float corr = m[i] == -std::numeric_limits<float>::infinity() ? 0.0f : exp_approx(m[i] - mx);
      m[i] = mx;
      float sum = 0.0f;
      for (int64_t j = 0; j < limit; ++j) {
        si[j] = exp_approx(si[j] - mx);
        sum += si[j];
      }
      l[i] = l[i] * corr + sum;
      float* ai = acc + i * dv;
      for (int64_t e = 0; e < dv; ++e) ai[e] *= corr;
      for (int64_t j = 0; j < limit; ++j) {
        const float p = si[j];
        const float* vj = h.v + (k0 + j) * h.v_stride;
        for (int64_t e = 0; e < dv; ++e) ai[e] += p * vj[e];
      }
    }
  }
  for (int64_t i = 0; i < rows; ++i) {
    const float inv = 1.0f / l[i];
    float* oi = h.out + (q0 + i) * h.out_stride;
    const float* ai = acc + i * dv;
    for (int64_t e = 0; e < dv; ++e) oi[e] = ai[e] * inv;
  }
}

void rows_default(const HeadView& h, int64_t q0, int64_t q1, float scale, bool causal, float* s, float* acc) {
  attend_rows<0>(h, q0, q1, scale, causal, s, acc);
}
__attribute__((target("avx2,fma"))) void rows_avx2(const HeadView& h, int64_t q0, int64_t q1, float scale,
                                                   bool causal, float* s, float* acc) {
  attend_rows<1>(h, q0, q1, scale, causal, s, acc);
}
__attribute__((target("avx512f,avx512dq,avx512bw,avx512vl"))) void rows_avx512(const HeadView& h, int64_t q0,
                                                                               int64_t q1, float scale,
                                                                               bool causal, float* s,
                                                                               float* acc) {
  attend_rows<2>(h, q0, q1, scale, causal, s, acc);
}

using RowsFn = void (*)(const HeadView&, int64_t, int64_t, float, bool, float*, float*);

RowsFn pick_rows_fn() {
  if (__builtin_cpu_supports("avx512f")) return rows_avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return rows_avx2;
  return rows_default;
}

}  // namespace

Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, int heads, float scale, bool causal) {
  static const RowsFn rows_fn = pick_rows_fn();
  const int64_t b = q.dim(0), tq = q.dim(1), tk = k.dim(1);
  const int64_t d = q.dim(2) / heads, dv = v.dim(2) / heads;
  Tensor out = Tensor::empty({b, tq, v.dim(2)});
  if (out.numel() == 0) return out;
  // K^T per (batch, head): [b][h][d][tk].
  std::vector<float> kt(static_cast<size_t>(b * heads * d * tk));
  const float* kp = k.data<float>();
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t bi = 0; bi < b; ++bi)
    for (int64_t hi = 0; hi < heads; ++hi) {
      float* dst = kt.data() + (bi * heads + hi) * d * tk;
      for (int64_t j = 0; j < tk; ++j) {
        const float* src = kp + (bi * tk + j) * heads * d + hi * d;
        for (int64_t c = 0; c < d; ++c) dst[c * tk + j] = src[c];
      }
    }
  const int64_t qblocks = (tq + kBlockQ - 1) / kBlockQ;
  const float* qp = q.data<float>();
  const float* vp = v.data<float>();
  float* op = out.data<float>();
#pragma omp parallel
  {
    std::vector<float> s(static_cast<size_t>(kBlockQ * kBlockK));
    std::vector<float> acc(static_cast<size_t>(kBlockQ * dv));
#pragma omp for collapse(3) schedule(dynamic)
    for (int64_t bi = 0; bi < b; ++bi)
      for (int64_t hi = 0; hi < heads; ++hi)
        for (int64_t qb = 0; qb < qblocks; ++qb) {
          HeadView h{qp + bi * tq * heads * d + hi * d,
                     kt.data() + (bi * heads + hi) * d * tk,
                     vp + bi * tk * heads * dv + hi * dv,
                     op + bi * tq * heads * dv + hi * dv,
                     heads * d,
                     heads * dv,
                     heads * dv,
                     tk,
                     d,
                     dv};
          const int64_t q0 = qb * kBlockQ, q1 = std::min(tq, q0 + kBlockQ);
          rows_fn(h, q0, q1, scale, causal, s.data(), acc.data());
        }
  }
  return out;
}

}  // namespace i2i::cpu
