#include "models/unet_blocks.h"

#include "core/error.h"
#include "kernels/ops.h"

namespace i2i {

UNetBlockSpec unet_block_spec(const UNetConfig& c, int level, int64_t in, int64_t out, int layers,
                              bool resample) {
  UNetBlockSpec s;
  s.in = in;
  s.out = out;
  s.temb = c.time_embed_dim;
  s.layers = layers;
  s.attention = c.cross_attention[level];
  s.transformer.heads = c.heads[level];
  s.transformer.depth = c.transformer_depth[level];
  s.transformer.context_dim = c.cross_attention_dim;
  s.transformer.linear_projection = c.use_linear_projection;
  s.transformer.groups = c.norm_num_groups;
  s.transformer.upcast_attention = c.upcast_attention;
  s.groups = c.norm_num_groups;
  s.eps = c.norm_eps;
  s.output_scale = c.resnet_out_scale_factor;
  s.resample = resample;
  return s;
}

int transformer_block_count(const UNetBlockSpec& spec) {
  return spec.attention ? spec.layers * spec.transformer.depth : 0;
}

namespace {

ResnetSpec resnet_spec(const UNetBlockSpec& s, int64_t in) {
  return ResnetSpec{in, s.out, s.temb, s.groups, s.eps, s.output_scale};
}

// The spec of the transformer after resnet `layer`.
TransformerSpec transformer_spec(const UNetBlockSpec& s, int layer) {
  TransformerSpec t = s.transformer;
  t.channels = s.out;
  t.first_block += layer * t.depth;
  return t;
}

// The name of the module whose output ends layer j of a block: its transformer, else its resnet.
std::string layer_name(const std::string& prefix, const UNetBlockSpec& spec, int j) {
  return prefix + (spec.attention ? "attentions." : "resnets.") + std::to_string(j);
}

// The hook's replacement of a block layer's output, or `h` itself.
Tensor hooked_output(const UNetConditioning& cond, const std::string& name, Tensor h) {
  if (!cond.hook) return h;
  Tensor r = cond.hook->block_output(name, h);
  if (!r.defined()) return h;
  if (r.shape() != h.shape() || r.dtype() != DType::F32)
    throw Error("UNetHook: the output of " + name + " must be float32 " + shape_str(h.shape()) + ", got " +
                shape_str(r.shape()));
  return r;
}

}  // namespace

UNetDownBlock::UNetDownBlock(const Weights& w, const std::string& prefix, const UNetBlockSpec& spec,
                             Precision precision) {
  for (int j = 0; j < spec.layers; ++j) {
    std::string idx = std::to_string(j);
    resnets_.emplace_back(w, prefix + "resnets." + idx + ".", resnet_spec(spec, j == 0 ? spec.in : spec.out),
                          precision);
    if (spec.attention)
      attentions_.emplace_back(w, prefix + "attentions." + idx + ".", transformer_spec(spec, j), precision);
    layer_names_.push_back(layer_name(prefix, spec, j));
  }
  if (spec.resample) down_.emplace(w, prefix + "downsamplers.0.", spec.out, Padding::same(1), precision);
}

Tensor UNetDownBlock::operator()(const Tensor& x, const Tensor& temb_act, const UNetConditioning& cond,
                                 std::vector<Tensor>& skips) const {
  Tensor h = x;
  for (size_t j = 0; j < resnets_.size(); ++j) {
    h = resnets_[j](h, &temb_act);
    if (!attentions_.empty()) h = attentions_[j](h, cond);
    h = hooked_output(cond, layer_names_[j], std::move(h));
    skips.push_back(h);
  }
  if (down_) {
    h = (*down_)(h);
    skips.push_back(h);
  }
  return h;
}

UNetMidBlock::UNetMidBlock(const Weights& w, const std::string& prefix, const UNetBlockSpec& spec,
                           Precision precision)
    : name_(prefix.substr(0, prefix.size() - 1)) {
  resnet0_ = ResnetBlock(w, prefix + "resnets.0.", resnet_spec(spec, spec.in), precision);
  attention_ = Transformer2D(w, prefix + "attentions.0.", transformer_spec(spec, 0), precision);
  resnet1_ = ResnetBlock(w, prefix + "resnets.1.", resnet_spec(spec, spec.out), precision);
}

Tensor UNetMidBlock::operator()(const Tensor& x, const Tensor& temb_act, const UNetConditioning& cond) const {
  Tensor h = resnet0_(x, &temb_act);
  h = attention_(h, cond);
  return hooked_output(cond, name_, resnet1_(h, &temb_act));
}

UNetUpBlock::UNetUpBlock(const Weights& w, const std::string& prefix, const UNetBlockSpec& spec,
                         const std::vector<int64_t>& skip_channels, Precision precision) {
  check(static_cast<int>(skip_channels.size()) == spec.layers,
        "UNetUpBlock: one skip width per resnet expected");
  for (int j = 0; j < spec.layers; ++j) {
    std::string idx = std::to_string(j);
    int64_t in = (j == 0 ? spec.in : spec.out) + skip_channels[j];
    resnets_.emplace_back(w, prefix + "resnets." + idx + ".", resnet_spec(spec, in), precision);
    if (spec.attention)
      attentions_.emplace_back(w, prefix + "attentions." + idx + ".", transformer_spec(spec, j), precision);
    layer_names_.push_back(layer_name(prefix, spec, j));
  }
  if (spec.resample) up_.emplace(w, prefix + "upsamplers.0.", spec.out, precision);
}

Tensor UNetUpBlock::operator()(const Tensor& x, const Tensor& temb_act, const UNetConditioning& cond,
                               std::vector<Tensor>& skips, int64_t upsample_h, int64_t upsample_w) const {
  Tensor h = x;
  for (size_t j = 0; j < resnets_.size(); ++j) {
    check(!skips.empty(), "UNetUpBlock: ran out of skip tensors");
    Tensor skip = std::move(skips.back());
    skips.pop_back();
    h = resnets_[j](ops::concat_channels(h, skip), &temb_act);
    if (!attentions_.empty()) h = attentions_[j](h, cond);
    h = hooked_output(cond, layer_names_[j], std::move(h));
  }
  if (up_) h = (*up_)(h, upsample_h, upsample_w);
  return h;
}

void UNetDownBlock::visit_layers(const std::string& prefix, const LayerVisitor& f) {
  for (size_t i = 0; i < resnets_.size(); ++i)
    resnets_[i].visit_layers(prefix + "resnets." + std::to_string(i) + ".", f);
  for (size_t i = 0; i < attentions_.size(); ++i)
    attentions_[i].visit_layers(prefix + "attentions." + std::to_string(i) + ".", f);
  if (down_) down_->visit_layers(prefix + "downsamplers.0.", f);
}

void UNetMidBlock::visit_layers(const std::string& prefix, const LayerVisitor& f) {
  resnet0_.visit_layers(prefix + "resnets.0.", f);
  attention_.visit_layers(prefix + "attentions.0.", f);
  resnet1_.visit_layers(prefix + "resnets.1.", f);
}

void UNetUpBlock::visit_layers(const std::string& prefix, const LayerVisitor& f) {
  for (size_t i = 0; i < resnets_.size(); ++i)
    resnets_[i].visit_layers(prefix + "resnets." + std::to_string(i) + ".", f);
  for (size_t i = 0; i < attentions_.size(); ++i)
    attentions_[i].visit_layers(prefix + "attentions." + std::to_string(i) + ".", f);
  if (up_) up_->visit_layers(prefix + "upsamplers.0.", f);
}

}  // namespace i2i
