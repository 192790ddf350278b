#include "models/unet.h"

#include <cmath>

#include "core/error.h"
#include "core/phase_timer.h"
#include "kernels/ops.h"
#include "models/ip_adapter_attention.h"

namespace i2i {

namespace {

void record(UNetIntermediates* out, const std::string& name, const Tensor& t) {
  if (out) (*out)[name] = t.clone();
}

}  // namespace

UNet2DCondition::UNet2DCondition(const Weights& w, const UNetConfig& config, Precision precision)
    : config_(config) {
  const phase_timer::ComponentScope component("unet");
  const phase_timer::Scope timed("load");
  config_.validate(w.origin());
  const UNetConfig& c = config_;
  const int n = c.levels();
  const auto& ch = c.block_out_channels;
  time_mlp_ =
      TimestepMlp(w, "time_embedding.", c.time_proj_dim, c.time_embed_dim, precision, c.time_cond_proj_dim);
  if (c.has_text_time())
    add_embedding_ = TimestepMlp(w, "add_embedding.", c.projection_class_embeddings_input_dim,
                                 c.time_embed_dim, precision);
  conv_in_ = load_conv(w, "conv_in", ch[0], c.in_channels, 3, 1, Padding::same(1), precision);

  int blocks = 0;  // BasicTransformerBlocks so far, in forward order
  skip_channels_ = {ch[0]};
  for (int i = 0; i < n; ++i) {
    bool last = i == n - 1;
    UNetBlockSpec spec = unet_block_spec(c, i, i == 0 ? ch[0] : ch[i - 1], ch[i], c.layers_per_block, !last);
    spec.transformer.first_block = blocks;
    blocks += transformer_block_count(spec);
    down_.emplace_back(w, "down_blocks." + std::to_string(i) + ".", spec, precision);
    for (int j = 0; j < c.layers_per_block; ++j) skip_channels_.push_back(ch[i]);
    if (!last) skip_channels_.push_back(ch[i]);
  }

  UNetBlockSpec mid = unet_block_spec(c, n - 1, ch[n - 1], ch[n - 1], 1, false);
  mid.transformer.depth = c.mid_transformer_depth;
  mid.attention = true;
  mid.output_scale = c.mid_block_scale_factor;
  mid.transformer.first_block = blocks;
  blocks += transformer_block_count(mid);
  mid_ = UNetMidBlock(w, "mid_block.", mid, precision);

  std::vector<int64_t> remaining = skip_channels_;
  int64_t prev = ch[n - 1];
  for (int i = 0; i < n; ++i) {
    const int level = n - 1 - i;
    const int layers = c.layers_per_block + 1;
    std::vector<int64_t> skips;
    for (int j = 0; j < layers; ++j) {
      skips.push_back(remaining.back());
      remaining.pop_back();
    }
    UNetBlockSpec spec = unet_block_spec(c, level, prev, ch[level], layers, i != n - 1);
    spec.transformer.first_block = blocks;
    blocks += transformer_block_count(spec);
    up_.emplace_back(w, "up_blocks." + std::to_string(i) + ".", spec, skips, precision);
    prev = ch[level];
  }
  norm_out_ = load_group_norm(w, "conv_norm_out", ch[0], c.norm_num_groups, c.norm_eps);
  conv_out_ = load_conv(w, "conv_out", c.out_channels, ch[0], 3, 1, Padding::same(1), precision);

  for_each_transformer_block([&](const BasicTransformerBlock& b) {
    check(b.index() == static_cast<int>(block_names_.size()),
          "UNet: transformer block " + b.name() + " numbered out of forward order");
    block_names_.push_back(b.name());
    block_widths_.push_back(b.channels());
  });
}

void UNet2DCondition::for_each_transformer_block(
    const std::function<void(const BasicTransformerBlock&)>& f) const {
  auto visit = [&](const Transformer2D& t) {
    for (const BasicTransformerBlock& b : t.blocks()) f(b);
  };
  for (const UNetDownBlock& d : down_)
    for (const Transformer2D& t : d.attentions()) visit(t);
  visit(mid_.attention());
  for (const UNetUpBlock& u : up_)
    for (const Transformer2D& t : u.attentions()) visit(t);
}

std::vector<Shape> UNet2DCondition::skip_shapes(int64_t batch, int64_t h, int64_t w) const {
  std::vector<Shape> shapes = {{batch, h, w, config_.block_out_channels[0]}};
  const int n = config_.levels();
  for (int i = 0; i < n; ++i) {
    const int64_t c = config_.block_out_channels[i];
    for (int j = 0; j < config_.layers_per_block; ++j) shapes.push_back({batch, h, w, c});
    if (i != n - 1) {
      h = (h + 1) / 2;  // conv 3x3, stride 2, padding 1
      w = (w + 1) / 2;
      shapes.push_back({batch, h, w, c});
    }
  }
  return shapes;
}

void UNet2DCondition::check_inputs(const Tensor& sample, const std::vector<float>& timesteps,
                                   const UNetConditioning& cond) const {
  const UNetConfig& c = config_;
  check(sample.ndim() == 4 && sample.dim(3) == c.in_channels && sample.dtype() == DType::F32,
        "UNet: sample must be float32 [B, h, w, " + std::to_string(c.in_channels) + "], got " +
            shape_str(sample.shape()));
  const int64_t batch = sample.dim(0);
  check_text_conditioning(cond, "UNet", batch, c.cross_attention_dim, c.has_text_time());
  check_added_conditions(cond, batch);
  check(
      timesteps.size() == 1 || static_cast<int64_t>(timesteps.size()) == batch,
      "UNet: expected 1 or " + std::to_string(batch) + " timesteps, got " + std::to_string(timesteps.size()));
  check_image_prompts(cond.image_prompts, batch);
  if (!cond.residuals) return;
  const UNetResiduals& res = *cond.residuals;
  std::vector<Shape> skip_shapes_expected = skip_shapes(batch, sample.dim(1), sample.dim(2));
  check(res.down.size() == skip_shapes_expected.size(),
        "UNet: expected " + std::to_string(skip_shapes_expected.size()) + " down-block residuals, got " +
            std::to_string(res.down.size()));
  for (size_t i = 0; i < res.down.size(); ++i)
    check(res.down[i].shape() == skip_shapes_expected[i],
          "UNet: down-block residual " + std::to_string(i) + " has shape " + shape_str(res.down[i].shape()) +
              ", expected " + shape_str(skip_shapes_expected[i]));
  check(!res.mid.defined() || res.mid.shape() == skip_shapes_expected.back(),
        "UNet: mid-block residual has shape " + shape_str(res.mid.shape()) + ", expected " +
            shape_str(skip_shapes_expected.back()));
}

void UNet2DCondition::check_added_conditions(const UNetConditioning& cond, int64_t batch) const {
  const UNetConfig& c = config_;
  if (!c.has_text_time()) return;  // check_text_conditioning rejected them
  const Tensor& te = cond.text_embeds;
  const Tensor& ids = cond.time_ids;
  check(te.defined() && ids.defined(),
        "UNet: this SDXL UNet (addition_embed_type \"text_time\") needs text_embeds and time_ids");
  check(te.ndim() == 2 && te.dim(0) == batch && te.dtype() == DType::F32,
        "UNet: text_embeds must be float32 [" + std::to_string(batch) + ", P], got " + shape_str(te.shape()));
  check(ids.ndim() == 2 && ids.dim(0) == batch && ids.dtype() == DType::F32,
        "UNet: time_ids must be float32 [" + std::to_string(batch) + ", n], got " + shape_str(ids.shape()));
  check(te.dim(1) + ids.dim(1) * c.addition_time_embed_dim == c.projection_class_embeddings_input_dim,
        "UNet: text_embeds " + shape_str(te.shape()) + " and " + std::to_string(ids.dim(1)) + " time ids x " +
            std::to_string(c.addition_time_embed_dim) + " do not add up to add_embedding's " +
            std::to_string(c.projection_class_embeddings_input_dim) + " inputs");
}

Tensor UNet2DCondition::added_embedding(const UNetConditioning& cond,
                                        UNetIntermediates* intermediates) const {
  const UNetConfig& c = config_;
  const int64_t batch = cond.time_ids.dim(0), n = cond.time_ids.dim(1);
  Tensor ids_proj =
      timestep_embedding(cond.time_ids.to_vector(), c.addition_time_embed_dim, c.flip_sin_to_cos,
                         c.freq_shift);  // [B * n, dim]
  record(intermediates, "add_time_proj", ids_proj);
  Tensor add_in =
      ops::concat_channels(cond.text_embeds, ids_proj.reshape({batch, n * c.addition_time_embed_dim}));
  Tensor aug = add_embedding_(add_in);
  record(intermediates, "add_embedding", aug);
  return aug;
}

void UNet2DCondition::check_image_prompts(const std::vector<ImagePrompt>& prompts, int64_t batch) const {
  for (size_t u = 0; u < prompts.size(); ++u) {
    const ImagePrompt& ip = prompts[u];
    const std::string who = "UNet: image prompt " + std::to_string(u);
    check(ip.adapter != nullptr, who + " has no IP-Adapter (to_k_ip / to_v_ip layers)");
    check(ip.adapter->layer_count() == block_names_.size() && ip.adapter->widths() == block_widths_ &&
              ip.adapter->cross_attention_dim() == config_.cross_attention_dim,
          who + ": the IP-Adapter " + ip.adapter->origin() + " was not loaded for this UNet (" +
              std::to_string(ip.adapter->layer_count()) + " layers, " + std::to_string(block_names_.size()) +
              " cross-attentions)");
    const Tensor& t = ip.tokens;
    check(t.ndim() == 3 && t.dim(0) == batch && t.dim(2) == config_.cross_attention_dim &&
              t.dtype() == DType::F32,
          who + " tokens must be float32 [" + std::to_string(batch) + ", N, " +
              std::to_string(config_.cross_attention_dim) + "], got " + shape_str(t.shape()));
    check(ip.layer_scales.empty() || ip.layer_scales.size() == block_names_.size(),
          who + ": expected " + std::to_string(block_names_.size()) +
              " layer scales (one per transformer block), got " + std::to_string(ip.layer_scales.size()));
    check(std::isfinite(ip.scale), who + ": the scale is not finite");
    for (float s : ip.layer_scales) check(std::isfinite(s), who + ": a layer scale is not finite");
  }
}

Tensor UNet2DCondition::forward(const Tensor& sample, const std::vector<float>& timesteps,
                                const Tensor& context, const UNetResiduals* residuals,
                                UNetIntermediates* intermediates) const {
  UNetConditioning cond;
  cond.context = context;
  if (residuals) cond.residuals = *residuals;
  return forward(sample, timesteps, cond, intermediates);
}

Tensor UNet2DCondition::forward(const Tensor& sample, const std::vector<float>& timesteps,
                                const UNetConditioning& cond, UNetIntermediates* intermediates) const {
  const phase_timer::ComponentScope component("unet");
  const phase_timer::Scope timed("forward");
  check_inputs(sample, timesteps, cond);
  const UNetConfig& c = config_;
  const int64_t batch = sample.dim(0);
  const UNetResiduals* residuals = cond.residuals ? &*cond.residuals : nullptr;

  std::vector<float> t(static_cast<size_t>(batch), timesteps[0]);
  if (timesteps.size() != 1) t = timesteps;
  Tensor t_proj = timestep_embedding(t, c.time_proj_dim, c.flip_sin_to_cos, c.freq_shift);
  record(intermediates, "time_proj", t_proj);
  Tensor emb = time_mlp_(t_proj, cond.timestep_cond);
  record(intermediates, "time_embedding", emb);
  if (c.has_text_time()) ops::add_(emb, added_embedding(cond, intermediates));
  const Tensor emb_act = ops::silu(emb);  // every resnet applies SiLU to the embedding first

  Tensor h = sample;
  if (c.center_input_sample) {
    h = ops::scale(sample, 2.f);
    std::vector<float> minus_one(static_cast<size_t>(h.numel()), -1.f);
    ops::add_(h, Tensor::from_vector(h.shape(), minus_one));
  }
  h = conv_in_(h);
  record(intermediates, "conv_in", h);

  std::vector<Tensor> skips = {h};
  for (size_t i = 0; i < down_.size(); ++i) {
    size_t first = skips.size();
    h = down_[i](h, emb_act, cond, skips);
    if (intermediates) {
      const std::string name = "down_blocks." + std::to_string(i);
      record(intermediates, name, h);
      for (size_t j = first; j < skips.size(); ++j)
        record(intermediates, name + ".res_samples." + std::to_string(j - first), skips[j]);
    }
  }
  if (residuals)
    for (size_t i = 0; i < skips.size(); ++i) skips[i] = ops::add(skips[i], residuals->down[i]);

  h = mid_(h, emb_act, cond);
  record(intermediates, "mid_block", h);
  if (residuals && residuals->mid.defined()) ops::add_(h, residuals->mid);

  for (size_t i = 0; i < up_.size(); ++i) {
    int64_t uh = 0, uw = 0;
    if (i + 1 < up_.size()) {
      // Upsample to the size of the next skip tensor (equals 2x unless the latent size is not a multiple
      // of 2^(levels-1), as diffusers' forward_upsample_size).
      const Tensor& next = skips[skips.size() - up_[i].resnet_count() - 1];
      uh = next.dim(1);
      uw = next.dim(2);
    }
    h = up_[i](h, emb_act, cond, skips, uh, uw);
    record(intermediates, "up_blocks." + std::to_string(i), h);
  }

  if (intermediates) {
    Tensor n = norm_out_(h, false);
    record(intermediates, "conv_norm_out", n);
    h = conv_out_(ops::silu(n));
    record(intermediates, "conv_out", h);
  } else {
    h = conv_out_(norm_out_(h, true, conv_out_.input_dtype()));
  }
  return h;
}

void UNet2DCondition::visit_layers(const std::string& prefix, const LayerVisitor& f) {
  visit_layer(f, prefix + "conv_in", conv_in_);
  time_mlp_.visit_layers(prefix + "time_embedding.", f);
  if (config_.has_text_time()) add_embedding_.visit_layers(prefix + "add_embedding.", f);
  for (size_t i = 0; i < down_.size(); ++i)
    down_[i].visit_layers(prefix + "down_blocks." + std::to_string(i) + ".", f);
  mid_.visit_layers(prefix + "mid_block.", f);
  for (size_t i = 0; i < up_.size(); ++i)
    up_[i].visit_layers(prefix + "up_blocks." + std::to_string(i) + ".", f);
  visit_layer(f, prefix + "conv_out", conv_out_);
}

}  // namespace i2i
