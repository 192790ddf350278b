// The CPU backend: oneDNN for Linear / Conv2d, our own OpenMP code for the rest. Internal header.
#pragma once

#include <memory>

#include "kernels/backend.h"

namespace i2i::cpu {

Backend& cpu_backend();

// Layers (dnnl_layers.cpp).
std::shared_ptr<const Linear::Impl> make_linear(const Tensor& weight, const Tensor& bias,
                                                Precision precision);
std::shared_ptr<const Conv2d::Impl> make_conv2d(const Tensor& weight, const Tensor& bias, int stride,
                                                Padding padding, Precision precision);

// Normalisation (norm.cpp).
Tensor group_norm(const Tensor& x, int groups, const Tensor& gamma, const Tensor& beta, float eps, bool silu,
                  DType out);
Tensor layer_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps);
Tensor softmax(const Tensor& x);

// Element-wise and data movement (elementwise.cpp).
enum class Act { SiLU, GELU, GELUTanh, QuickGELU };
Tensor activation(const Tensor& x, Act act);
Tensor geglu(const Tensor& x);
Tensor upsample_nearest2x(const Tensor& x);
Tensor concat_channels(const Tensor& a, const Tensor& b);
Tensor add(const Tensor& a, const Tensor& b);
void add_(Tensor& a, const Tensor& b);
Tensor scale(const Tensor& x, float s);
void scale_(Tensor& x, float s);
void add_channel_bias_(Tensor& x, const Tensor& bias);

// float32 -> bf16, round to nearest even (vcvtne2ps2bf16 where the CPU has AVX512_BF16, else f32_to_bf16;
// the same bits either way) (bf16_convert.cpp). to_bf16_serial runs on the calling thread (for use inside
// a parallel region); to_bf16 splits large arrays over the threads.
void to_bf16_serial(const float* src, uint16_t* dst, int64_t n);
void to_bf16(const float* src, uint16_t* dst, int64_t n);
// Weight conversions for layer preparation, split over the threads in blocks (bf16_convert.cpp):
// weights_to_f32 is convert_to_f32 (core/dtype.h) for arrays of any size; f16_to_bf16 rounds fp16 values to
// bf16 through float32 (exact), nearest even, the same bits as to_bf16 of their float32 values.
void weights_to_f32(const void* src, DType from, float* dst, int64_t n);
void f16_to_bf16(const uint16_t* src, uint16_t* dst, int64_t n);

// Attention (attention.cpp). Precision::BF16 uses a bf16 kernel where the CPU has one (AMX tiles or
// AVX512_BF16, chosen by timing or forced by I2I_KERNELS: kernel_choice.h), float32 elsewhere.
Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, int heads, float scale, bool causal,
                 Precision precision);

// Testing aid: when on, the portable kernels are used even where AVX-512 versions exist (so tests cover
// both on an AVX-512 machine). Not thread-safe; call between operations.
void force_portable_kernels(bool on);

}  // namespace i2i::cpu
