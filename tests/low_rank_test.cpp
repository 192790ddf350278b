// LowRankUpdate (kernels/low_rank.h), every kernel this CPU has, forced through the I2I_KERNELS overrides:
// W + up @ down against a double-precision reference on shapes that exercise every edge (rows not a multiple
// of the 16-row tiles, columns not a multiple of the 16/64-column strips, odd ranks and ranks past one
// 32-deep AMX step), row ranges starting anywhere, and the same bits whatever the split into row ranges.
//
// Tolerance: each output is w + sum over `rank` products; the products are exact in float32 for the bf16
// kernels (bf16 x bf16 fits in 24 bits) and rounded once for the float32 ones, and the sum of rank + 1 terms
// in float32, in any order, is within (rank + 1) * 2^-24 * (|w| + sum |u_k d_k|) of the exact value (twice
// that for a rounded product). The reference uses the operands the kernel uses: the float32 values, or for
// the bf16 kernels the values rounded to bf16 (nearest even).
#include "kernels/low_rank.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "kernels/cpu/kernel_choice.h"

namespace i2i {
namespace {

using cpu::AttentionKernel;

struct ForcedLoraKernel {
  explicit ForcedLoraKernel(AttentionKernel k) {
    cpu::KernelOverrides o;
    o.lora = k;
    cpu::set_kernel_overrides(o);
  }
  ~ForcedLoraKernel() { cpu::set_kernel_overrides({}); }
};

std::vector<float> random_values(size_t n, uint32_t seed, float scale) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(-scale, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(gen);
  return v;
}

float bf16_round(float x) {
  return bf16_to_f32(f32_to_bf16(x));
}

struct Case {
  int64_t rows, rank, cols;
};

constexpr Case kCases[] = {{37, 1, 17},   {37, 4, 64}, {16, 32, 100},
                           {50, 33, 130}, {21, 70, 1}, {64, 32, 1280}};

// Checks one kernel on every case; `bf16`: the kernel rounds up and down to bf16.
void check_kernel(AttentionKernel k, bool bf16_products, bool expect_bf16) {
  const ForcedLoraKernel forced(k);
  for (const Case& c : kCases) {
    SCOPED_TRACE("rows " + std::to_string(c.rows) + " rank " + std::to_string(c.rank) + " cols " +
                 std::to_string(c.cols));
    const auto up = random_values(static_cast<size_t>(c.rows * c.rank), 1, 0.5f);
    const auto down = random_values(static_cast<size_t>(c.rank * c.cols), 2, 0.5f);
    const auto w0 = random_values(static_cast<size_t>(c.rows * c.cols), 3, 1.0f);
    const LowRankUpdate update(up, down, c.rows, c.rank, c.cols, bf16_products);
    EXPECT_EQ(std::string(update.kernel()), cpu::kernel_name(k));

    // The whole range at once, from row 0.
    std::vector<float> whole = w0;
    update.add_to_rows(whole.data(), 0, c.rows);
    for (int64_t i = 0; i < c.rows; ++i)
      for (int64_t j = 0; j < c.cols; ++j) {
        double exact = w0[static_cast<size_t>(i * c.cols + j)], magnitude = std::fabs(exact);
        for (int64_t r = 0; r < c.rank; ++r) {
          float u = up[static_cast<size_t>(i * c.rank + r)], d = down[static_cast<size_t>(r * c.cols + j)];
          if (expect_bf16) {
            u = bf16_round(u);
            d = bf16_round(d);
          }
          exact += static_cast<double>(u) * d;
          magnitude += std::fabs(static_cast<double>(u) * d);
        }
        const double tol = 2.0 * static_cast<double>(c.rank + 1) * std::ldexp(1.0, -24) * magnitude;
        const float got = whole[static_cast<size_t>(i * c.cols + j)];
        ASSERT_LE(std::fabs(got - exact), tol) << "row " << i << " col " << j;
      }

    // Row ranges of 5 starting anywhere (as the merge's row tiles split a layer): the same bits.
    std::vector<float> pieces = w0;
    for (int64_t first = 0; first < c.rows; first += 5) {
      const int64_t n = std::min<int64_t>(5, c.rows - first);
      update.add_to_rows(pieces.data() + first * c.cols, first, n);
    }
    EXPECT_EQ(pieces, whole);
  }
}

TEST(LowRank, PortableKernel) {
  check_kernel(AttentionKernel::Portable, false, false);
  check_kernel(AttentionKernel::Portable, true, false);  // forced float32 products for a bf16 layer
}

TEST(LowRank, Avx512Kernel) {
  if (!cpu::kernel_available(AttentionKernel::Avx512)) GTEST_SKIP() << "no AVX-512 on this CPU";
  check_kernel(AttentionKernel::Avx512, false, false);
  check_kernel(AttentionKernel::Avx512, true, false);
}

TEST(LowRank, Avx512Bf16Kernel) {
  if (!cpu::kernel_available(AttentionKernel::Avx512Bf16)) GTEST_SKIP() << "no AVX512_BF16 on this CPU";
  check_kernel(AttentionKernel::Avx512Bf16, true, true);
}

TEST(LowRank, AmxKernel) {
  if (!cpu::kernel_available(AttentionKernel::Amx)) GTEST_SKIP() << "no AMX-BF16 on this CPU";
  check_kernel(AttentionKernel::Amx, true, true);
}

// A forced bf16 kernel leaves float32 layers on float32 products.
TEST(LowRank, FloatLayersKeepFloatProducts) {
  const AttentionKernel k =
      cpu::kernel_available(AttentionKernel::Amx) ? AttentionKernel::Amx : AttentionKernel::Avx512Bf16;
  if (!cpu::kernel_available(k)) GTEST_SKIP() << "no bf16 kernel on this CPU";
  const ForcedLoraKernel forced(k);
  const LowRankUpdate update(std::vector<float>(8, 1.0f), std::vector<float>(8, 1.0f), 4, 2, 4, false);
  const std::string name = update.kernel();
  EXPECT_TRUE(name == "avx512" || name == "portable") << name;
}

TEST(LowRank, SizesThatDoNotMatchAreErrors) {
  EXPECT_THROW(LowRankUpdate(std::vector<float>(7), std::vector<float>(8), 4, 2, 4, false), Error);
  EXPECT_THROW(LowRankUpdate(std::vector<float>(8), std::vector<float>(9), 4, 2, 4, true), Error);
  EXPECT_THROW(LowRankUpdate({}, {}, 4, 0, 4, false), Error);
}

}  // namespace
}  // namespace i2i
