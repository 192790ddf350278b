// The UNet's spatial transformer (diffusers Transformer2DModel with BasicTransformerBlocks): GroupNorm
// (eps 1e-6) -> proj_in -> blocks (self-attention, cross-attention, GEGLU feed-forward, each pre-LayerNorm
// with a residual) -> proj_out, plus a residual around the whole. The tokens are the rows of the NHWC tensor.
#pragma once

#include <vector>

#include "models/unet_layers.h"

namespace i2i {

struct TransformerSpec {
  int64_t channels = 0;
  int heads = 8;
  int depth = 1;
  int64_t context_dim = 768;
  bool linear_projection = false;  // proj_in/out stored as Linear [C, C] (else 1x1 conv [C, C, 1, 1])
  int groups = 32;
  bool upcast_attention = false;  // kept for fidelity; i2i computes attention in float32 anyway
};

// diffusers Attention without norms: to_q / to_k / to_v (no bias), to_out.0 (bias), scaled dot product.
class CrossAttention {
 public:
  CrossAttention() = default;
  CrossAttention(const Weights& w, const std::string& prefix, int64_t dim, int64_t context_dim, int heads,
                 Precision precision);
  // x [B, T, dim], context [B, S, context_dim] (x itself for self-attention); returns residual + attn.
  Tensor operator()(const Tensor& x, const Tensor& context, const Tensor& residual) const;

 private:
  Linear q_, k_, v_, out_;
  int heads_ = 1;
  float scale_ = 1;
  Precision precision_ = Precision::F32;
};

class BasicTransformerBlock {
 public:
  BasicTransformerBlock() = default;
  BasicTransformerBlock(const Weights& w, const std::string& prefix, const TransformerSpec& spec,
                        Precision precision);
  // x [B, T, C] tokens, context [B, S, D]; returns the updated tokens.
  Tensor operator()(const Tensor& x, const Tensor& context) const;

 private:
  LayerNorm norm1_, norm2_, norm3_;
  CrossAttention attn1_, attn2_;
  Linear ff_in_, ff_out_;
};

class Transformer2D {
 public:
  Transformer2D() = default;
  Transformer2D(const Weights& w, const std::string& prefix, const TransformerSpec& spec,
                Precision precision);
  // x [N, H, W, C], context [N, S, D] -> [N, H, W, C].
  Tensor operator()(const Tensor& x, const Tensor& context) const;

 private:
  GroupNorm norm_;
  Linear proj_in_, proj_out_;  // 1x1 convolutions are Linear layers over the NHWC rows
  std::vector<BasicTransformerBlock> blocks_;
};

}  // namespace i2i
