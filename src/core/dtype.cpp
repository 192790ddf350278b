#include "core/dtype.h"

#include <cpuid.h>
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>

#include "core/error.h"

namespace i2i {
namespace {

struct DTypeInfo {
  DType type;
  std::string_view name;
  size_t size;
  bool is_float;
};

constexpr std::array<DTypeInfo, 15> kInfo = {{
    {DType::F64, "F64", 8, true},
    {DType::F32, "F32", 4, true},
    {DType::F16, "F16", 2, true},
    {DType::BF16, "BF16", 2, true},
    {DType::I64, "I64", 8, false},
    {DType::I32, "I32", 4, false},
    {DType::I16, "I16", 2, false},
    {DType::I8, "I8", 1, false},
    {DType::U64, "U64", 8, false},
    {DType::U32, "U32", 4, false},
    {DType::U16, "U16", 2, false},
    {DType::U8, "U8", 1, false},
    {DType::Bool, "BOOL", 1, false},
    {DType::F8E4M3, "F8_E4M3", 1, true},
    {DType::F8E5M2, "F8_E5M2", 1, true},
}};

const DTypeInfo& info(DType t) {
  return kInfo[static_cast<size_t>(t)];
}

float f8e4m3_to_f32(uint8_t v) {
  int sign = v >> 7, exp = (v >> 3) & 0xf, man = v & 7;
  if (exp == 0xf && man == 7) return NAN;
  float r = exp == 0 ? std::ldexp(man / 8.0f, -6) : std::ldexp(1.0f + man / 8.0f, exp - 7);
  return sign ? -r : r;
}

float f8e5m2_to_f32(uint8_t v) {
  return f16_to_f32(static_cast<uint16_t>(v) << 8);
}

template <typename T>
void widen(const void* src, float* dst, size_t n) {
  T tmp;
  const auto* p = static_cast<const unsigned char*>(src);
  for (size_t i = 0; i < n; ++i) {
    std::memcpy(&tmp, p + i * sizeof(T), sizeof(T));
    dst[i] = static_cast<float>(tmp);
  }
}

}  // namespace

size_t dtype_size(DType t) {
  return info(t).size;
}
std::string_view dtype_name(DType t) {
  return info(t).name;
}
bool dtype_is_float(DType t) {
  return info(t).is_float;
}

std::optional<DType> dtype_from_name(std::string_view name) {
  for (const auto& i : kInfo)
    if (i.name == name) return i.type;
  return std::nullopt;
}

float f16_to_f32(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t man = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0) {
    if (man == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      int e = -1;
      do {
        ++e;
        man <<= 1;
      } while ((man & 0x400u) == 0);
      bits = sign | ((127 - 15 - e) << 23) | ((man & 0x3ffu) << 13);
    }
  } else if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (man << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t f32_to_f16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  uint32_t sign = (bits >> 16) & 0x8000u;
  uint32_t abs = bits & 0x7fffffffu;
  if (abs > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u);   // NaN
  if (abs >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // overflow -> inf
  if (abs < 0x38800000u) {                                               // subnormal or zero
    float a;
    std::memcpy(&a, &abs, 4);
    return static_cast<uint16_t>(sign | static_cast<uint32_t>(std::nearbyint(a * 16777216.0f)));
  }
  uint32_t mant_odd = (abs >> 13) & 1u;
  abs += 0xfffu + mant_odd;  // round to nearest even
  return static_cast<uint16_t>(sign | ((abs - 0x38000000u) >> 13));
}

namespace {

void convert_to_f32_serial(const void* src, DType from, float* dst, size_t n);

// fp16 -> float32 with the F16C instructions where the CPU has them (exact, as f16_to_f32; only a signalling
// NaN's quiet bit could differ), 8 values at a time.
__attribute__((target("avx,f16c"))) void f16_to_f32_f16c(const unsigned char* src, float* dst, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(dst + i,
                     _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + 2 * i))));
  for (; i < n; ++i) {
    uint16_t h;
    std::memcpy(&h, src + 2 * i, 2);
    dst[i] = f16_to_f32(h);
  }
}

// CPUID leaf 1, ECX: bit 28 AVX, bit 29 F16C (read directly: clang 14's __builtin_cpu_supports has no
// "f16c").
bool cpu_has_f16c() {
  static const bool has = [] {
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return false;
    return (ecx & (1u << 28)) != 0 && (ecx & (1u << 29)) != 0;
  }();
  return has;
}

}  // namespace

void convert_to_f32(const void* src, DType from, float* dst, size_t n) {
  // Large half-precision conversions (model weights) are split over the OpenMP threads.
  constexpr size_t kChunk = size_t{1} << 18;
  if ((from == DType::F16 || from == DType::BF16) && n >= 4 * kChunk) {
    const auto* p = static_cast<const unsigned char*>(src);
    const auto chunks = static_cast<int64_t>((n + kChunk - 1) / kChunk);
#pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < chunks; ++c) {
      const size_t begin = static_cast<size_t>(c) * kChunk;
      convert_to_f32_serial(p + 2 * begin, from, dst + begin, std::min(kChunk, n - begin));
    }
    return;
  }
  convert_to_f32_serial(src, from, dst, n);
}

namespace {

void convert_to_f32_serial(const void* src, DType from, float* dst, size_t n) {
  const auto* p = static_cast<const unsigned char*>(src);
  switch (from) {
    case DType::F32:
      std::memcpy(dst, src, n * 4);
      return;
    case DType::F16:
      if (cpu_has_f16c()) return f16_to_f32_f16c(p, dst, n);
      for (size_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, p + 2 * i, 2);
        dst[i] = f16_to_f32(h);
      }
      return;
    case DType::BF16:
      for (size_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, p + 2 * i, 2);
        dst[i] = bf16_to_f32(h);
      }
      return;
    case DType::F8E4M3:
      for (size_t i = 0; i < n; ++i) dst[i] = f8e4m3_to_f32(p[i]);
      return;
    case DType::F8E5M2:
      for (size_t i = 0; i < n; ++i) dst[i] = f8e5m2_to_f32(p[i]);
      return;
    case DType::F64:
      return widen<double>(src, dst, n);
    case DType::I64:
      return widen<int64_t>(src, dst, n);
    case DType::I32:
      return widen<int32_t>(src, dst, n);
    case DType::I16:
      return widen<int16_t>(src, dst, n);
    case DType::I8:
      return widen<int8_t>(src, dst, n);
    case DType::U64:
      return widen<uint64_t>(src, dst, n);
    case DType::U32:
      return widen<uint32_t>(src, dst, n);
    case DType::U16:
      return widen<uint16_t>(src, dst, n);
    case DType::U8:
    case DType::Bool:
      return widen<uint8_t>(src, dst, n);
  }
}

}  // namespace

void convert_from_f32(const float* src, void* dst, DType to, size_t n) {
  auto* p = static_cast<unsigned char*>(dst);
  switch (to) {
    case DType::F32:
      std::memcpy(dst, src, n * 4);
      return;
    case DType::F16:
      for (size_t i = 0; i < n; ++i) {
        uint16_t h = f32_to_f16(src[i]);
        std::memcpy(p + 2 * i, &h, 2);
      }
      return;
    case DType::BF16:
      for (size_t i = 0; i < n; ++i) {
        uint16_t h = f32_to_bf16(src[i]);
        std::memcpy(p + 2 * i, &h, 2);
      }
      return;
    case DType::F64:
      for (size_t i = 0; i < n; ++i) {
        double d = src[i];
        std::memcpy(p + 8 * i, &d, 8);
      }
      return;
    default:
      throw Error("cannot convert float32 to " + std::string(dtype_name(to)));
  }
}

}  // namespace i2i
