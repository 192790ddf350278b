#include <immintrin.h>

#include <algorithm>

#include "core/dtype.h"
#include "kernels/cpu/cpu_backend.h"

namespace i2i::cpu {
namespace {

void convert_portable(const float* src, uint16_t* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = f32_to_bf16(src[i]);
}

// vcvtne2ps2bf16 rounds to nearest even like f32_to_bf16 (NaN stays NaN; denormal inputs are flushed to zero
// by the instruction, which f32_to_bf16 keeps: those are below 1.2e-38).
__attribute__((target("avx512f,avx512bf16"))) void convert_avx512(const float* src, uint16_t* dst,
                                                                  int64_t n) {
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(src + i + 16), _mm512_loadu_ps(src + i));
    _mm512_storeu_si512(dst + i, reinterpret_cast<__m512i>(v));
  }
  convert_portable(src + i, dst + i, n - i);
}

}  // namespace

void to_bf16_serial(const float* src, uint16_t* dst, int64_t n) {
  static const bool fast = __builtin_cpu_supports("avx512bf16");
  if (fast)
    convert_avx512(src, dst, n);
  else
    convert_portable(src, dst, n);
}

void weights_to_f32(const void* src, DType from, float* dst, int64_t n) {
  constexpr int64_t kChunk = 1 << 16;
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  const auto* p = static_cast<const unsigned char*>(src);
  const auto es = static_cast<int64_t>(dtype_size(from));
#pragma omp parallel for schedule(static) if (chunks > 1)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t b = c * kChunk, e = std::min(n, b + kChunk);
    convert_to_f32(p + b * es, from, dst + b, static_cast<size_t>(e - b));
  }
}

void f16_to_bf16(const uint16_t* src, uint16_t* dst, int64_t n) {
  constexpr int64_t kBlock = 4096;  // float32 staging per thread: 16 KiB, stays in L1
  const int64_t blocks = (n + kBlock - 1) / kBlock;
#pragma omp parallel if (blocks > 16)
  {
    alignas(64) float buf[kBlock];
#pragma omp for schedule(static)
    for (int64_t blk = 0; blk < blocks; ++blk) {
      const int64_t b = blk * kBlock, e = std::min(n, b + kBlock);
      convert_to_f32(src + b, DType::F16, buf, static_cast<size_t>(e - b));
      to_bf16_serial(buf, dst + b, e - b);
    }
  }
}

void to_bf16(const float* src, uint16_t* dst, int64_t n) {
  constexpr int64_t kChunk = 1 << 16;
  const int64_t chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static) if (chunks > 1)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t b = c * kChunk, e = std::min(n, b + kChunk);
    to_bf16_serial(src + b, dst + b, e - b);
  }
}

}  // namespace i2i::cpu
