// The kernel layer's public face: the operations every model is written with. All tensors here are
// float32 activations, contiguous, channels-last (images [N, H, W, C], tokens [B, T, C]). Heavy math
// (Linear, Conv2d) lives in layer objects that prepare their weights once (see linear.h, conv2d.h);
// these functions are the glue between them. Every call dispatches to the backend of its inputs
// (backend.h): CPU today, CUDA later behind the same interface.
#pragma once

#include "core/tensor.h"
#include "kernels/precision.h"

namespace i2i::ops {

// Group normalisation over channels-last x ([N, H, W, C] or [N, T, C]: statistics per sample and group
// of C / groups consecutive channels, over all positions), then y = norm * gamma[c] + beta[c],
// optionally followed by SiLU (fused).
// `out` F32 (default) or BF16: the result rounded to bf16 (round to nearest even), to feed a bf16 layer
// (Conv2d::input_dtype()) without a float32 copy.
Tensor group_norm(const Tensor& x, int groups, const Tensor& gamma, const Tensor& beta, float eps,
                  bool silu = false, DType out = DType::F32);
// Layer normalisation over the last dimension.
Tensor layer_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps);

// Element-wise activations (new tensors).
Tensor silu(const Tensor& x);
Tensor gelu(const Tensor& x);        // exact: x * 0.5 * (1 + erf(x / sqrt(2)))
Tensor gelu_tanh(const Tensor& x);   // tanh approximation
Tensor quick_gelu(const Tensor& x);  // x * sigmoid(1.702 x)
// GEGLU glue: x [..., 2D] -> value * gelu(gate) with value = x[..., :D], gate = x[..., D:] (exact GELU).
Tensor geglu(const Tensor& x);

// Softmax over the last dimension.
Tensor softmax(const Tensor& x);

// Multi-head scaled dot-product attention. q [B, Tq, H*D], k [B, Tk, H*D], v [B, Tk, H*Dv]; head h uses
// columns [h*D, (h+1)*D). out[b, i, h] = sum_j softmax_j(scale * q_i . k_j) v_j, with j <= i when causal.
// Never materialises the full Tq x Tk score matrix for long sequences (tiled, online softmax).
// Precision::BF16 (for bf16 models): Q, K, V and the softmax weights rounded to bf16 for the two products
// (float32 accumulation, softmax in float32) where the CPU has AVX512_BF16; float32 elsewhere.
Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, int heads, float scale,
                 bool causal = false, Precision precision = Precision::F32);

// Nearest-neighbour 2x upsampling of [N, H, W, C] -> [N, 2H, 2W, C].
Tensor upsample_nearest2x(const Tensor& x);
// Concatenation along the last (channel) dimension; leading dimensions must match.
Tensor concat_channels(const Tensor& a, const Tensor& b);
// a + b (same shape), and the in-place form a += b.
Tensor add(const Tensor& a, const Tensor& b);
void add_(Tensor& a, const Tensor& b);
// x * s (new tensor) and in place.
Tensor scale(const Tensor& x, float s);
void scale_(Tensor& x, float s);
// x[n, ..., c] += bias[n, c]: a per-sample, per-channel vector added at every position (e.g. the time
// embedding in a resnet block). x is [N, ..., C], bias is [N, C].
void add_channel_bias_(Tensor& x, const Tensor& bias);

}  // namespace i2i::ops
