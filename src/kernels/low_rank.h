// Low-rank updates of weight rows, for merging LoRAs into prepared layers (models/lora_apply.h):
//   W[i, :] += sum_k up[i, k] * down[k, :]
// (up [rows, rank] with the scale folded in, down [rank, cols]).
// Each row's delta is summed over k first and then added to W, as W + (up @ down) reads (kohya's merge_to,
// diffusers' fuse_lora). Host memory only: weights are merged before a layer is prepared for its device.
//
// Kernels (kernels/cpu/low_rank.cpp; I2I_KERNELS=lora:KERNEL forces one, kernels/cpu/kernel_choice.h):
// - float32 products: `portable` (any CPU) or `avx512`: for float32 layers, and for bf16 layers on CPUs
//   without AVX512_BF16;
// - bf16 products of up and down rounded to bf16 (nearest even), float32 sums: `amx` (tdpbf16ps on 16x16
//   tiles) where the CPU has AMX-BF16, else `avx512bf16` (vdpbf16ps), for bf16 layers. A bf16 weight holds 8
//   bits of mantissa: what the products lose is far below what rounding W + delta to bf16 loses.
// The choice depends on the CPU and the layer's precision only, never on threads or row ranges, so a merge
// gives the same bits with any number of threads.
#pragma once

#include <cstdint>
#include <vector>

namespace i2i {

class LowRankUpdate {
 public:
  // up [rows, rank] and down [rank, cols], float32 row-major; `bf16_products`: the layer computes in bf16
  // (see above). Throws i2i::Error when the sizes do not match.
  LowRankUpdate(std::vector<float> up, std::vector<float> down, int64_t rows, int64_t rank, int64_t cols,
                bool bf16_products);
  // Adds rows [first, first + n) of up @ down to `w` (n rows of cols float32, row stride cols); the rows must
  // lie in [0, rows()) (a range outside adds nothing). Runs on the calling thread and never throws: call it
  // from inside a parallel region, one row range per thread.
  void add_to_rows(float* w, int64_t first, int64_t n) const;
  int64_t rows() const { return rows_; }
  int64_t rank() const { return rank_; }
  int64_t cols() const { return cols_; }
  // The kernel's name (portable, avx512, avx512bf16 or amx), for logs and tests.
  const char* kernel() const;

  // In the order of kernel_choice.h's AttentionKernel (the same four kernels, kernels/cpu/low_rank.cpp).
  enum class Kernel { Portable, Avx512, Avx512Bf16, Amx };

 private:
  int64_t rows_ = 0, rank_ = 0, cols_ = 0;
  Kernel kernel_ = Kernel::Portable;
  std::vector<float> up_, down_;  // float32 kernels
  // bf16 kernels: up_bf16_ [rows + 16][k_pad] bf16 (zero rows and columns past the real ones, so a 16-row
  // tile may start at any row), down_pairs_ [k_pad / 2][padded_cols] pairs of bf16 (k = 2p, 2p + 1) as
  // vdpbf16ps and tdpbf16ps read them, zeros past cols and rank. k_pad: rank rounded up to 32 (AMX) or 2.
  int64_t k_pad_ = 0, padded_cols_ = 0;
  std::vector<uint16_t> up_bf16_;
  std::vector<uint32_t> down_pairs_;
};

// float32 -> bf16, round to nearest even, on the calling thread (the same bits as the layers' own
// conversion; vcvtne2ps2bf16 where the CPU has AVX512_BF16).
void round_to_bf16(const float* src, uint16_t* dst, int64_t n);

}  // namespace i2i
