// The UNet's spatial transformer (diffusers Transformer2DModel with BasicTransformerBlocks): GroupNorm
// (eps 1e-6) -> proj_in -> blocks (self-attention, cross-attention, GEGLU feed-forward, each pre-LayerNorm
// with a residual) -> proj_out, plus a residual around the whole. The tokens are the rows of the NHWC tensor.
// The conditioning (UNetConditioning) reaches every block: the prompt embedding for the cross-attention, the
// hook for the self-attention input, image tokens for an IP-Adapter's extra keys and values.
#pragma once

#include <string>
#include <vector>

#include "models/layer_visitor.h"
#include "models/unet_conditioning.h"
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
  // Forward-order index of the first BasicTransformerBlock among the model's (see
  // UNet2DCondition::transformer_block_names), for per-layer conditioning such as ImagePrompt::layer_scales.
  int first_block = 0;
};

// A further key/value source attended to by the same queries (diffusers IPAdapterAttnProcessor): the
// layer's output becomes to_out(attn(q, k(context), v(context)) + sum of scale * attn(q, to_k(tokens),
// to_v(tokens))), each with its own softmax.
struct ExtraKeyValues {
  const Linear* to_k = nullptr;    // [dim, context_dim]
  const Linear* to_v = nullptr;    // [dim, context_dim]
  const Tensor* tokens = nullptr;  // [B, N, context_dim]
  float scale = 1.f;               // 0: skipped
};

// diffusers Attention without norms: to_q / to_k / to_v (no bias), to_out.0 (bias), scaled dot product.
class CrossAttention {
 public:
  CrossAttention() = default;
  CrossAttention(const Weights& w, const std::string& prefix, int64_t dim, int64_t context_dim, int heads,
                 Precision precision);
  // x [B, T, dim], context [B, S, context_dim] (x itself for self-attention); returns residual + attn.
  // `extra`: image tokens with their own projections (IP-Adapter units), added before to_out.
  Tensor operator()(const Tensor& x, const Tensor& context, const Tensor& residual,
                    const std::vector<ExtraKeyValues>* extra = nullptr) const;
  // attn(x, context) after to_out, without a residual (for callers that mix attention outputs).
  Tensor attend(const Tensor& x, const Tensor& context) const;

  // Its prepared layers, named `prefix` + the diffusers module path (models/layer_visitor.h).
  void visit_layers(const std::string& prefix, const LayerVisitor& f);

 private:
  Linear q_, k_, v_, out_;
  int heads_ = 1;
  float scale_ = 1;
  Precision precision_ = Precision::F32;
};

class BasicTransformerBlock {
 public:
  BasicTransformerBlock() = default;
  // `index`: the block's forward-order position among the model's transformer blocks.
  BasicTransformerBlock(const Weights& w, const std::string& prefix, const TransformerSpec& spec, int index,
                        Precision precision);
  // x [B, T, C] tokens, cond.context [B, S, D]; returns the updated tokens.
  Tensor operator()(const Tensor& x, const UNetConditioning& cond) const;
  // The diffusers module name ("down_blocks.1.attentions.0.transformer_blocks.0") and forward-order index.
  const std::string& name() const { return name_; }
  int index() const { return index_; }
  int64_t channels() const { return channels_; }

  // Its prepared layers, named `prefix` + the diffusers module path (models/layer_visitor.h).
  void visit_layers(const std::string& prefix, const LayerVisitor& f);

 private:
  Tensor self_attention(const Tensor& x, const UNetConditioning& cond) const;
  Tensor cross_attention(const Tensor& h, const UNetConditioning& cond) const;

  std::string name_, attn1_name_;
  int index_ = 0;
  int64_t channels_ = 0;
  LayerNorm norm1_, norm2_, norm3_;
  CrossAttention attn1_, attn2_;
  Linear ff_in_, ff_out_;
};

class Transformer2D {
 public:
  Transformer2D() = default;
  Transformer2D(const Weights& w, const std::string& prefix, const TransformerSpec& spec,
                Precision precision);
  // x [N, H, W, C], cond.context [N, S, D] -> [N, H, W, C].
  Tensor operator()(const Tensor& x, const UNetConditioning& cond) const;
  const std::vector<BasicTransformerBlock>& blocks() const { return blocks_; }

  // Its prepared layers, named `prefix` + the diffusers module path (models/layer_visitor.h).
  void visit_layers(const std::string& prefix, const LayerVisitor& f);

 private:
  GroupNorm norm_;
  Linear proj_in_, proj_out_;  // 1x1 convolutions are Linear layers over the NHWC rows
  std::vector<BasicTransformerBlock> blocks_;
};

}  // namespace i2i
