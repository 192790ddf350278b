#include "models/unet_transformer.h"

#include <cmath>

#include "core/error.h"
#include "kernels/ops.h"
#include "models/ip_adapter_attention.h"

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

Tensor CrossAttention::operator()(const Tensor& x, const Tensor& context, const Tensor& residual,
                                  const std::vector<ExtraKeyValues>* extra) const {
  const Tensor q = q_(x);
  Tensor a = ops::attention(q, k_(context), v_(context), heads_, scale_, false, precision_);
  if (extra)
    for (const ExtraKeyValues& e : *extra) {
      if (e.scale == 0.f) continue;  // diffusers adds 0 * (a finite term): the same bits
      Tensor ip =
          ops::attention(q, (*e.to_k)(*e.tokens), (*e.to_v)(*e.tokens), heads_, scale_, false, precision_);
      ops::scale_(ip, e.scale);
      ops::add_(a, ip);
    }
  return out_(a, &residual);
}

Tensor CrossAttention::attend(const Tensor& x, const Tensor& context) const {
  return out_(ops::attention(q_(x), k_(context), v_(context), heads_, scale_, false, precision_));
}

namespace {

// x + w_b * plain_b + (1 - w_b) * replaced_b per sample b, where `plain` holds samples [first, first + n).
Tensor mix_self_attention(const Tensor& x, const Tensor& replaced, const Tensor& plain, int64_t first,
                          const std::vector<float>& w) {
  Tensor out = Tensor::empty(x.shape());
  const int64_t per = x.numel() / x.dim(0);
  const float* px = x.data<float>();
  const float* pr = replaced.data<float>();
  const float* pp = plain.data<float>();
  float* o = out.data<float>();
  for (int64_t b = 0; b < x.dim(0); ++b) {
    const float wb = w[static_cast<size_t>(b)], wr = static_cast<float>(1.0 - static_cast<double>(wb));
    const bool has_plain = b >= first && b < first + plain.dim(0);
    for (int64_t k = b * per; k < (b + 1) * per; ++k) {
      const float a = has_plain && wb != 0.f ? wb * pp[k - first * per] + wr * pr[k] : pr[k];
      o[k] = a + px[k];
    }
  }
  return out;
}

}  // namespace

BasicTransformerBlock::BasicTransformerBlock(const Weights& w, const std::string& prefix,
                                             const TransformerSpec& spec, int index, Precision precision)
    : name_(prefix.substr(0, prefix.size() - 1)),
      attn1_name_(name_ + ".attn1"),
      index_(index),
      channels_(spec.channels) {
  const int64_t c = spec.channels;
  norm1_ = load_layer_norm(w, prefix + "norm1", c, 1e-5f);
  attn1_ = CrossAttention(w, prefix + "attn1.", c, c, spec.heads, precision);
  norm2_ = load_layer_norm(w, prefix + "norm2", c, 1e-5f);
  attn2_ = CrossAttention(w, prefix + "attn2.", c, spec.context_dim, spec.heads, precision);
  norm3_ = load_layer_norm(w, prefix + "norm3", c, 1e-5f);
  ff_in_ = load_linear(w, prefix + "ff.net.0.proj", 8 * c, c, true, precision);  // GEGLU: 2 x 4C
  ff_out_ = load_linear(w, prefix + "ff.net.2", c, 4 * c, true, precision);
}

// x + attn1(norm1(x)); a hook may give the keys and values another source.
Tensor BasicTransformerBlock::self_attention(const Tensor& x, const UNetConditioning& cond) const {
  Tensor n1 = norm1_(x);
  if (!cond.hook) return attn1_(n1, n1, x);
  Tensor kv = cond.hook->self_attention_input(attn1_name_, n1);
  if (!kv.defined()) return attn1_(n1, n1, x);
  if (kv.ndim() != 3 || kv.dim(0) != n1.dim(0) || kv.dim(2) != n1.dim(2) || kv.dtype() != DType::F32)
    throw Error("UNetHook: the self-attention input of " + attn1_name_ + " must be float32 [" +
                std::to_string(n1.dim(0)) + ", T, " + std::to_string(n1.dim(2)) + "], got " +
                shape_str(kv.shape()));
  std::vector<float> w = cond.hook->plain_self_attention_weights(attn1_name_);
  int64_t first = -1, last = -1;
  for (size_t b = 0; b < w.size(); ++b)
    if (w[b] != 0.f) {
      if (first < 0) first = static_cast<int64_t>(b);
      last = static_cast<int64_t>(b);
    }
  if (first < 0) return attn1_(n1, kv, x);
  check(static_cast<int64_t>(w.size()) == n1.dim(0),
        "UNetHook: " + attn1_name_ + " needs one plain self-attention weight per sample");
  const Tensor q = n1.slice0(first, last + 1);
  return mix_self_attention(x, attn1_.attend(n1, kv), attn1_.attend(q, q), first, w);
}

// h + attn2(norm2(h), context), plus the image tokens' attention of every IP-Adapter unit.
Tensor BasicTransformerBlock::cross_attention(const Tensor& h, const UNetConditioning& cond) const {
  if (cond.image_prompts.empty()) return attn2_(norm2_(h), cond.context, h);
  std::vector<ExtraKeyValues> extra;
  const auto block = static_cast<size_t>(index_);
  for (const ImagePrompt& ip : cond.image_prompts) {
    const IpAdapterAttention::Layer& layer = ip.adapter->layer(block);
    const float s = ip.layer_scales.empty() ? ip.scale : ip.scale * ip.layer_scales.at(block);
    extra.push_back({&layer.to_k, &layer.to_v, &ip.tokens, s});
  }
  return attn2_(norm2_(h), cond.context, h, &extra);
}

Tensor BasicTransformerBlock::operator()(const Tensor& x, const UNetConditioning& cond) const {
  Tensor h = self_attention(x, cond);
  h = cross_attention(h, cond);
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
    blocks_.emplace_back(w, prefix + "transformer_blocks." + std::to_string(i) + ".", spec,
                         spec.first_block + i, precision);
}

Tensor Transformer2D::operator()(const Tensor& x, const UNetConditioning& cond) const {
  check(x.ndim() == 4, "Transformer2D: expects [N, H, W, C]");
  const Shape shape = x.shape();
  const Tensor tokens_in = x.reshape({shape[0], shape[1] * shape[2], shape[3]});
  Tensor h = proj_in_(norm_(x).reshape(tokens_in.shape()));
  for (const auto& block : blocks_) h = block(h, cond);
  return proj_out_(h, &tokens_in).reshape(shape);
}

void CrossAttention::visit_layers(const std::string& prefix, const LayerVisitor& f) {
  visit_layer(f, prefix + "to_q", q_);
  visit_layer(f, prefix + "to_k", k_);
  visit_layer(f, prefix + "to_v", v_);
  visit_layer(f, prefix + "to_out.0", out_);
}

void BasicTransformerBlock::visit_layers(const std::string& prefix, const LayerVisitor& f) {
  attn1_.visit_layers(prefix + "attn1.", f);
  attn2_.visit_layers(prefix + "attn2.", f);
  visit_layer(f, prefix + "ff.net.0.proj", ff_in_);
  visit_layer(f, prefix + "ff.net.2", ff_out_);
}

void Transformer2D::visit_layers(const std::string& prefix, const LayerVisitor& f) {
  visit_layer(f, prefix + "proj_in", proj_in_);
  for (size_t i = 0; i < blocks_.size(); ++i)
    blocks_[i].visit_layers(prefix + "transformer_blocks." + std::to_string(i) + ".", f);
  visit_layer(f, prefix + "proj_out", proj_out_);
}

}  // namespace i2i
