#include "models/unet_transformer.h"

#include <cmath>

#include "core/error.h"
#include "kernels/ops.h"

namespace i2i {

CrossAttention::CrossAttention(const Weights& w, const std::string& prefix, int64_t dim, int64_t context_dim,
                               int heads, Precision precision)
    : heads_(heads), precision_(precision) {
  q_ = load_linear(w, prefix + "to_q", dim, dim, false, precision);
  k_ = load_linear(w, prefix + "to_k", dim, context_dim, false, precision);
  v_ = load_linear(w, prefix + "to_v", dim, context_dim, false, precision);
  out_ = load_linear(w, prefix + "to_out.0", dim, dim, true, precision);
  scale_ = 1.0f / std::sqrt(static_cast<float>(dim / heads));
}

Tensor CrossAttention::operator()(const Tensor& x, const Tensor& context, const Tensor& residual) const {
  Tensor a = ops::attention(q_(x), k_(context), v_(context), heads_, scale_, false, precision_);
  return out_(a, &residual);
}

BasicTransformerBlock::BasicTransformerBlock(const Weights& w, const std::string& prefix,
                                             const TransformerSpec& spec, Precision precision) {
  const int64_t c = spec.channels;
  norm1_ = load_layer_norm(w, prefix + "norm1", c, 1e-5f);
  attn1_ = CrossAttention(w, prefix + "attn1.", c, c, spec.heads, precision);
  norm2_ = load_layer_norm(w, prefix + "norm2", c, 1e-5f);
  attn2_ = CrossAttention(w, prefix + "attn2.", c, spec.context_dim, spec.heads, precision);
  norm3_ = load_layer_norm(w, prefix + "norm3", c, 1e-5f);
  ff_in_ = load_linear(w, prefix + "ff.net.0.proj", 8 * c, c, true, precision);  // GEGLU: 2 x 4C
  ff_out_ = load_linear(w, prefix + "ff.net.2", c, 4 * c, true, precision);
}

Tensor BasicTransformerBlock::operator()(const Tensor& x, const Tensor& context) const {
  Tensor n1 = norm1_(x);
  Tensor h = attn1_(n1, n1, x);
  h = attn2_(norm2_(h), context, h);
  return ff_out_(ops::geglu(ff_in_(norm3_(h))), &h);
}

Transformer2D::Transformer2D(const Weights& w, const std::string& prefix, const TransformerSpec& spec,
                             Precision precision) {
  const int64_t c = spec.channels;
  norm_ = load_group_norm(w, prefix + "norm", c, spec.groups, 1e-6f);
  if (spec.linear_projection) {
    proj_in_ = load_linear(w, prefix + "proj_in", c, c, true, precision);
    proj_out_ = load_linear(w, prefix + "proj_out", c, c, true, precision);
  } else {
    proj_in_ = load_pointwise_conv_as_linear(w, prefix + "proj_in", c, c, precision);
    proj_out_ = load_pointwise_conv_as_linear(w, prefix + "proj_out", c, c, precision);
  }
  for (int i = 0; i < spec.depth; ++i)
    blocks_.emplace_back(w, prefix + "transformer_blocks." + std::to_string(i) + ".", spec, precision);
}

Tensor Transformer2D::operator()(const Tensor& x, const Tensor& context) const {
  check(x.ndim() == 4, "Transformer2D: expects [N, H, W, C]");
  const Shape shape = x.shape();
  const Tensor tokens_in = x.reshape({shape[0], shape[1] * shape[2], shape[3]});
  Tensor h = proj_in_(norm_(x).reshape(tokens_in.shape()));
  for (const auto& block : blocks_) h = block(h, context);
  return proj_out_(h, &tokens_in).reshape(shape);
}

}  // namespace i2i
