#include "models/controlnet.h"

#include <cstring>

#include "core/error.h"
#include "kernels/ops.h"

namespace i2i {

namespace {

// x [1, ...] repeated `batch` times along the first dimension.
Tensor repeat_batch(const Tensor& x, int64_t batch) {
  if (x.dim(0) == batch) return x;
  Shape s = x.shape();
  s[0] = batch;
  Tensor out = Tensor::empty(s);
  for (int64_t b = 0; b < batch; ++b)
    std::memcpy(out.data<float>() + b * x.numel(), x.data<float>(), x.nbytes());
  return out;
}

// The channels of an NHWC tensor in reverse order (diffusers flips a "bgr" ControlNet's input).
Tensor flip_channels(const Tensor& x) {
  Tensor out = Tensor::empty(x.shape());
  const int64_t c = x.dim(-1), n = x.numel() / c;
  const float* s = x.data<float>();
  float* d = out.data<float>();
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < c; ++k) d[i * c + k] = s[i * c + c - 1 - k];
  return out;
}

std::string family_hint(int64_t cross_attention_dim) {
  switch (cross_attention_dim) {
    case 768:
      return " (SD 1.x)";
    case 1024:
      return " (SD 2.x)";
    case 2048:
      return " (SDXL)";
    default:
      return "";
  }
}

std::string list_str(const std::vector<int64_t>& v) {
  std::string s = "(";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + ")";
}

}  // namespace

ControlNet::ControlNet(const Weights& w, const ControlNetConfig& config, Precision precision)
    : config_(config) {
  config_.validate(w.origin());
  const UNetConfig& c = config_.unet;
  const int n = c.levels();
  const auto& ch = c.block_out_channels;
  time_mlp_ = TimestepMlp(w, "time_embedding.", c.time_proj_dim, c.time_embed_dim, precision);
  conv_in_ = load_conv(w, "conv_in", ch[0], c.in_channels, 3, 1, Padding::same(1), precision);

  const auto& e = config_.conditioning_embedding_out_channels;
  const std::string ep = "controlnet_cond_embedding.";
  cond_in_ =
      load_conv(w, ep + "conv_in", e[0], config_.conditioning_channels, 3, 1, Padding::same(1), precision);
  for (size_t i = 0; i + 1 < e.size(); ++i) {
    cond_blocks_.push_back(
        load_conv(w, ep + "blocks." + std::to_string(2 * i), e[i], e[i], 3, 1, Padding::same(1), precision));
    cond_blocks_.push_back(load_conv(w, ep + "blocks." + std::to_string(2 * i + 1), e[i + 1], e[i], 3, 2,
                                     Padding::same(1), precision));
  }
  cond_out_ = load_conv(w, ep + "conv_out", ch[0], e.back(), 3, 1, Padding::same(1), precision);

  auto zero_conv = [&](int64_t channels) {
    const std::string name = "controlnet_down_blocks." + std::to_string(zero_convs_.size());
    zero_convs_.push_back(load_conv(w, name, channels, channels, 1, 1, Padding::same(0), precision));
  };
  zero_conv(ch[0]);
  for (int i = 0; i < n; ++i) {
    const bool last = i == n - 1;
    down_.emplace_back(w, "down_blocks." + std::to_string(i) + ".",
                       unet_block_spec(c, i, i == 0 ? ch[0] : ch[i - 1], ch[i], c.layers_per_block, !last),
                       precision);
    for (int j = 0; j < c.layers_per_block; ++j) zero_conv(ch[i]);
    if (!last) zero_conv(ch[i]);
  }
  UNetBlockSpec mid = unet_block_spec(c, n - 1, ch[n - 1], ch[n - 1], 1, false);
  mid.transformer.depth = c.mid_transformer_depth;
  mid.attention = true;
  mid.output_scale = c.mid_block_scale_factor;
  mid_ = UNetMidBlock(w, "mid_block.", mid, precision);
  mid_zero_conv_ =
      load_conv(w, "controlnet_mid_block", ch[n - 1], ch[n - 1], 1, 1, Padding::same(0), precision);
}

Tensor ControlNet::embed_condition(const Tensor& control) const {
  Tensor x = config_.bgr ? flip_channels(control) : control;
  x = ops::silu(cond_in_(x));
  for (const Conv2d& conv : cond_blocks_) x = ops::silu(conv(x));
  return cond_out_(x);
}

UNetResiduals ControlNet::forward(const Tensor& sample, const std::vector<float>& timesteps,
                                  const Tensor& context, const Tensor& control,
                                  float conditioning_scale) const {
  UNetConditioning cond;
  cond.context = context;
  return forward(sample, timesteps, cond, control, conditioning_scale);
}

UNetResiduals ControlNet::forward(const Tensor& sample, const std::vector<float>& timesteps,
                                  const UNetConditioning& conditioning, const Tensor& control,
                                  float conditioning_scale) const {
  const UNetConfig& c = config_.unet;
  check(sample.ndim() == 4 && sample.dim(3) == c.in_channels && sample.dtype() == DType::F32,
        "ControlNet: sample must be float32 [B, h, w, " + std::to_string(c.in_channels) + "], got " +
            shape_str(sample.shape()));
  const int64_t batch = sample.dim(0), h = sample.dim(1), wd = sample.dim(2);
  check_text_conditioning(conditioning, "ControlNet", batch, c.cross_attention_dim);
  UNetConditioning text_only;  // the UNet's residuals, image prompt and hook stay out
  text_only.context = conditioning.context;
  check(timesteps.size() == 1 || static_cast<int64_t>(timesteps.size()) == batch,
        "ControlNet: expected 1 or " + std::to_string(batch) + " timesteps, got " +
            std::to_string(timesteps.size()));
  const int64_t d = config_.downscale();
  check(control.ndim() == 4 && (control.dim(0) == batch || control.dim(0) == 1) &&
            control.dim(3) == config_.conditioning_channels && control.dtype() == DType::F32,
        "ControlNet: control image must be float32 [" + std::to_string(batch) + " or 1, H, W, " +
            std::to_string(config_.conditioning_channels) + "], got " + shape_str(control.shape()));
  check(control.dim(1) == h * d && control.dim(2) == wd * d,
        "ControlNet: control image is " + std::to_string(control.dim(2)) + "x" +
            std::to_string(control.dim(1)) + " but the latent is " + std::to_string(wd) + "x" +
            std::to_string(h) + ": the control image must be " + std::to_string(d) + "x the latent size (" +
            std::to_string(wd * d) + "x" + std::to_string(h * d) + ")");

  std::vector<float> t(static_cast<size_t>(batch), timesteps[0]);
  if (timesteps.size() != 1) t = timesteps;
  const Tensor emb = time_mlp_(timestep_embedding(t, c.time_proj_dim, c.flip_sin_to_cos, c.freq_shift));
  const Tensor emb_act = ops::silu(emb);

  const Tensor cond = repeat_batch(embed_condition(control), batch);
  Tensor x = conv_in_(sample, &cond);  // conv_in(sample) + embedding(control)

  std::vector<Tensor> skips = {x};
  for (const UNetDownBlock& block : down_) x = block(x, emb_act, text_only, skips);
  x = mid_(x, emb_act, text_only);

  UNetResiduals out;
  for (size_t i = 0; i < skips.size(); ++i) {
    out.down.push_back(zero_convs_[i](skips[i]));
    if (conditioning_scale != 1.f) ops::scale_(out.down.back(), conditioning_scale);
  }
  out.mid = mid_zero_conv_(x);
  if (conditioning_scale != 1.f) ops::scale_(out.mid, conditioning_scale);
  return out;
}

void check_controlnet_matches(const ControlNetConfig& controlnet, const UNetConfig& unet,
                              const std::string& controlnet_name, const std::string& unet_name) {
  const UNetConfig& c = controlnet.unet;
  auto describe = [](const UNetConfig& u) {
    return "cross-attention width " + std::to_string(u.cross_attention_dim) +
           family_hint(u.cross_attention_dim) + ", block channels " + list_str(u.block_out_channels) + ", " +
           std::to_string(u.layers_per_block) + " resnets per level";
  };
  const bool match = c.cross_attention_dim == unet.cross_attention_dim &&
                     c.block_out_channels == unet.block_out_channels &&
                     c.layers_per_block == unet.layers_per_block;
  check(match, "ControlNet " + controlnet_name + " (" + describe(c) + ") does not match the checkpoint " +
                   unet_name + " (" + describe(unet) + ")");
}

}  // namespace i2i
