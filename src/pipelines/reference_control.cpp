#include "pipelines/reference_control.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "core/error.h"
#include "pipelines/latent_ops.h"

namespace i2i {

std::string reference_mode_name(ReferenceMode mode) {
  switch (mode) {
    case ReferenceMode::Attn:
      return "reference_only";
    case ReferenceMode::Adain:
      return "reference_adain";
    case ReferenceMode::AdainAttn:
      return "reference_adain+attn";
  }
  return "";
}

ReferenceMode parse_reference_mode(const std::string& name) {
  for (ReferenceMode m : {ReferenceMode::Attn, ReferenceMode::Adain, ReferenceMode::AdainAttn})
    if (name == reference_mode_name(m)) return m;
  throw ParameterError(
      "{reference_mode} must be reference_only, reference_adain or reference_adain+attn, got '" +
      Error::literal(name) + "'");
}

namespace {

bool uses_attn(ReferenceMode m) {
  return m != ReferenceMode::Adain;
}
bool uses_adain(ReferenceMode m) {
  return m != ReferenceMode::Attn;
}

// The width (channels) of the transformer block `name` ("down_blocks.1.attentions.0.transformer_blocks.0").
int64_t block_width(const UNetConfig& c, const std::string& name) {
  const auto& ch = c.block_out_channels;
  if (name.rfind("mid_block.", 0) == 0) return ch.back();
  const bool down = name.rfind("down_blocks.", 0) == 0;
  check(down || name.rfind("up_blocks.", 0) == 0, "reference: unexpected transformer block name " + name);
  const size_t start = name.find('.') + 1;
  const int i = std::stoi(name.substr(start, name.find('.', start) - start));
  return down ? ch[static_cast<size_t>(i)] : ch[ch.size() - 1 - static_cast<size_t>(i)];
}

// The names UNetHook::block_output sees for level block `block` ("down_blocks.2." / "up_blocks.0.").
std::vector<std::string> block_layer_names(const std::string& block, int layers, bool attention) {
  std::vector<std::string> names;
  for (int j = 0; j < layers; ++j)
    names.push_back(block + (attention ? "attentions." : "resnets.") + std::to_string(j));
  return names;
}

}  // namespace

void validate_reference_unit(const ReferenceUnit& u, int64_t height, int64_t width) {
  if (!(u.style_fidelity >= 0.0 && u.style_fidelity <= 1.0))
    throw ParameterError("{style_fidelity} must be between 0 and 1, got " + std::to_string(u.style_fidelity));
  if (!(u.attn_weight >= 0.0 && std::isfinite(u.attn_weight)))
    throw ParameterError("{reference_attn_weight} must be a number >= 0, got " +
                         std::to_string(u.attn_weight));
  if (!(u.adain_weight >= 0.0 && std::isfinite(u.adain_weight)))
    throw ParameterError("{reference_adain_weight} must be a number >= 0, got " +
                         std::to_string(u.adain_weight));
  check(u.image.defined() && u.image.ndim() == 4 && u.image.dim(0) == 1 && u.image.dim(3) == 3 &&
            u.image.dtype() == DType::F32,
        "the reference image must be float32 [1, H, W, 3]");
  check(u.image.dim(1) == height && u.image.dim(2) == width,
        "the reference image is " + std::to_string(u.image.dim(2)) + "x" + std::to_string(u.image.dim(1)) +
            ", the generation " + std::to_string(width) + "x" + std::to_string(height));
}

ReferenceLayers reference_layers(const UNet2DCondition& unet, const ReferenceUnit& unit) {
  const UNetConfig& c = unet.config();
  ReferenceLayers out;
  if (uses_attn(unit.mode)) {
    // diffusers' torch_dfs order: the UNet registers down_blocks and up_blocks before mid_block.
    std::vector<std::string> down, up, mid;
    for (const std::string& n : unet.transformer_block_names())
      (n.rfind("down_blocks.", 0) == 0 ? down : n.rfind("up_blocks.", 0) == 0 ? up : mid).push_back(n);
    std::vector<std::string> order = down;
    order.insert(order.end(), up.begin(), up.end());
    order.insert(order.end(), mid.begin(), mid.end());
    std::stable_sort(order.begin(), order.end(), [&](const std::string& a, const std::string& b) {
      return block_width(c, a) > block_width(c, b);
    });
    const double n = static_cast<double>(order.size());
    for (size_t i = 0; i < order.size(); ++i)
      if (unit.attn_weight > static_cast<double>(i) / n) out.attention.push_back(order[i] + ".attn1");
  }
  if (uses_adain(unit.mode)) {
    const int levels = c.levels();
    const double n = static_cast<double>(levels);
    if (unit.adain_weight >= 0.0) out.adain.push_back("mid_block");
    for (int w = 0; w < levels; ++w)
      if (unit.adain_weight >= (1.0 - w / n) * 2) {
        auto names = block_layer_names("down_blocks." + std::to_string(w) + ".", c.layers_per_block,
                                       c.cross_attention[static_cast<size_t>(w)]);
        out.adain.insert(out.adain.end(), names.begin(), names.end());
      }
    for (int w = 0; w < levels; ++w)
      if (unit.adain_weight >= (w / n) * 2) {
        auto names = block_layer_names("up_blocks." + std::to_string(w) + ".", c.layers_per_block + 1,
                                       c.cross_attention[static_cast<size_t>(levels - 1 - w)]);
        out.adain.insert(out.adain.end(), names.begin(), names.end());
      }
  }
  return out;
}

// Stores in the write pass, replaces in the read pass.
class ReferenceControl::Hook : public UNetHook {
 public:
  Hook(const ReferenceLayers& layers, double style_fidelity, int64_t uncond)
      : fidelity_(style_fidelity), uncond_(uncond) {
    for (const auto& n : layers.attention) attention_[n];
    for (const auto& n : layers.adain) adain_[n];
  }
  bool writing = true;

  Tensor self_attention_input(const std::string& name, const Tensor& input) override {
    auto it = attention_.find(name);
    if (it == attention_.end()) return {};
    if (writing) {
      it->second = input.dtype() == DType::F32 ? input.clone() : input.to(DType::F32);
      return {};
    }
    const Tensor& ref = it->second;
    check(input.dtype() == DType::F32, "reference: the self-attention input of " + name + " is not float32");
    check(ref.defined() && ref.dim(0) == input.dim(0) && ref.dim(2) == input.dim(2),
          "reference: no stored self-attention input for " + name);
    // Per sample: [norm1(h) tokens; stored tokens].
    const int64_t B = input.dim(0), T = input.dim(1), R = ref.dim(1), C = input.dim(2);
    Tensor kv = Tensor::empty({B, T + R, C});
    for (int64_t b = 0; b < B; ++b) {
      float* o = kv.data<float>() + b * (T + R) * C;
      std::copy_n(input.data<float>() + b * T * C, T * C, o);
      std::copy_n(ref.data<float>() + b * R * C, R * C, o + T * C);
    }
    return kv;
  }

  std::vector<float> plain_self_attention_weights(const std::string& /*name*/) override {
    if (uncond_ == 0 || fidelity_ <= 0) return {};
    std::vector<float> w(static_cast<size_t>(2 * uncond_), 0.f);
    std::fill_n(w.begin(), uncond_, static_cast<float>(fidelity_));
    return w;
  }

  Tensor block_output(const std::string& name, const Tensor& output) override {
    auto it = adain_.find(name);
    if (it == adain_.end()) return {};
    check(output.dtype() == DType::F32, "reference: the output of " + name + " is not float32");
    Stats s = stats(output);
    if (writing) {
      it->second = std::move(s);
      return {};
    }
    const Stats& ref = it->second;
    check(ref.mean.size() == s.mean.size(), "reference: no stored statistics for " + name);
    return adain(output, s, ref);
  }

 private:
  // Per sample and channel of [N, H, W, C]: mean and population variance over (H, W), float32 results of a
  // double accumulation (torch.var_mean(correction=0)).
  struct Stats {
    std::vector<float> mean, var;
  };
  static Stats stats(const Tensor& x) {
    const int64_t N = x.dim(0), HW = x.dim(1) * x.dim(2), C = x.dim(3);
    Stats s;
    s.mean.resize(static_cast<size_t>(N * C));
    s.var.resize(static_cast<size_t>(N * C));
    const float* p = x.data<float>();
    std::vector<double> sum(static_cast<size_t>(C)), sq(static_cast<size_t>(C));
    for (int64_t n = 0; n < N; ++n) {
      std::fill(sum.begin(), sum.end(), 0.0);
      std::fill(sq.begin(), sq.end(), 0.0);
      const float* q = p + n * HW * C;
      for (int64_t i = 0; i < HW; ++i)
        for (int64_t c = 0; c < C; ++c) sum[static_cast<size_t>(c)] += q[i * C + c];
      for (int64_t c = 0; c < C; ++c) sum[static_cast<size_t>(c)] /= static_cast<double>(HW);
      for (int64_t i = 0; i < HW; ++i)
        for (int64_t c = 0; c < C; ++c) {
          const double d = q[i * C + c] - sum[static_cast<size_t>(c)];
          sq[static_cast<size_t>(c)] += d * d;
        }
      for (int64_t c = 0; c < C; ++c) {
        s.mean[static_cast<size_t>(n * C + c)] = static_cast<float>(sum[static_cast<size_t>(c)]);
        s.var[static_cast<size_t>(n * C + c)] =
            static_cast<float>(sq[static_cast<size_t>(c)] / static_cast<double>(HW));
      }
    }
    return s;
  }

  // x_uc = (x - mean) / std * std_ref + mean_ref, std = sqrt(max(var, 1e-6)); x_c = x_uc except in the
  // unconditional half (x); out = fidelity * x_c + (1 - fidelity) * x_uc, in float32 as torch computes it.
  Tensor adain(const Tensor& x, const Stats& s, const Stats& ref) const {
    const int64_t N = x.dim(0), HW = x.dim(1) * x.dim(2), C = x.dim(3);
    const float eps = 1e-6f;
    const float f = static_cast<float>(fidelity_), g = static_cast<float>(1.0 - fidelity_);
    const bool mix = uncond_ > 0 && fidelity_ > 0;
    Tensor out = Tensor::empty(x.shape());
    const float* p = x.data<float>();
    float* o = out.data<float>();
    std::vector<float> mean(static_cast<size_t>(C)), sd(mean.size()), mean_ref(mean.size()),
        sd_ref(mean.size());
    for (int64_t n = 0; n < N; ++n) {
      const bool plain = mix && n < uncond_;
      for (size_t c = 0; c < mean.size(); ++c) {
        const size_t k = static_cast<size_t>(n * C) + c;
        mean[c] = s.mean[k];
        sd[c] = std::sqrt(std::max(s.var[k], eps));
        mean_ref[c] = ref.mean[k];
        sd_ref[c] = std::sqrt(std::max(ref.var[k], eps));
      }
      // Pixel by pixel, channels innermost: contiguous in NHWC.
      for (int64_t i = 0; i < HW; ++i) {
        const float* px = p + (n * HW + i) * C;
        float* ox = o + (n * HW + i) * C;
        for (size_t c = 0; c < mean.size(); ++c) {
          const float xuc = (px[c] - mean[c]) / sd[c] * sd_ref[c] + mean_ref[c];
          const float xc = plain ? px[c] : xuc;
          ox[c] = mix ? f * xc + g * xuc : xuc;
        }
      }
    }
    return out;
  }

  double fidelity_;
  int64_t uncond_;  // samples of the unconditional half (B with CFG, else 0)
  std::map<std::string, Tensor> attention_;
  std::map<std::string, Stats> adain_;
};

ReferenceControl::ReferenceControl(const SdModel& model, const ReferenceUnit& unit, int64_t batch, bool cfg,
                                   const std::vector<NoiseSource*>& noise)
    : batch_(batch), cfg_(cfg), nine_(model.unet.config().in_channels == 9) {
  // The community pipeline encodes the reference repeated to the batch and samples the posterior once for
  // all of it: mean + std * noise[B, 4, h, w], times the scaling factor.
  const VaePosterior posterior = model.vae.encode_auto(unit.image);
  Shape shape = posterior.mean.shape();
  shape[0] = batch;
  const Tensor eps = draw_batch(noise, shape);
  const Tensor stddev = posterior.std();
  latents_ = Tensor::empty(shape);
  const int64_t per = posterior.mean.numel();
  const float* m = posterior.mean.data<float>();
  const float* s = stddev.data<float>();
  const float* e = eps.data<float>();
  float* l = latents_.data<float>();
  const float scale = model.vae_scale();
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t i = 0; i < per; ++i) l[b * per + i] = scale * (m[i] + s[i] * e[b * per + i]);
  layers_ = reference_layers(model.unet, unit);
  if (!layers_.attention.empty() || !layers_.adain.empty())
    hook_ = std::make_unique<Hook>(layers_, unit.style_fidelity, cfg ? batch : 0);
}

ReferenceControl::~ReferenceControl() = default;

Tensor ReferenceControl::write(const SdModel& model, Scheduler& scheduler, int step_index,
                               const Tensor& context, const std::vector<NoiseSource*>& noise) {
  const Tensor step_noise = draw_batch(noise, latents_.shape());
  Tensor noised = scheduler.add_noise(latents_, step_noise, step_index);
  if (!hook_) return noised;
  Tensor in = scheduler.scale_model_input(cfg_ ? concat_batch({noised, noised}) : noised, step_index);
  if (nine_) {
    // A 9-channel UNet: nothing to repaint (mask 0) and the clean reference as the masked image.
    Shape mask_shape = latents_.shape();
    mask_shape[0] = 1;
    mask_shape[3] = 1;
    const Tensor known = cfg_ ? concat_batch({latents_, latents_}) : latents_;
    in = concat_channels({in, Tensor::zeros(mask_shape), known});
  }
  UNetConditioning cond;
  cond.context = context;
  cond.hook = hook_.get();
  hook_->writing = true;
  model.unet.forward(in, {static_cast<float>(scheduler.timestep(step_index))}, cond);
  hook_->writing = false;
  return noised;
}

UNetHook* ReferenceControl::read_hook() {
  return hook_.get();
}

}  // namespace i2i
