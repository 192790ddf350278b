// IP-Adapter image projections (h94/IP-Adapter; diffusers 0.27.2 ImageProjection and
// IPAdapterPlusImageProjection, MultiIPAdapterImageProjection's members): they turn the image encoder's
// output into the extra "image prompt" tokens that the UNet's cross-attention layers attend to
// (to_k_ip / to_v_ip, loaded elsewhere from the same file).
//
// Read from the ORIGINAL h94 key layout of an adapter .safetensors (`image_proj.*`; the `ip_adapter.N.*`
// tensors of the same file are not touched here). The variant is recognised from the keys:
//   base ("ImageProjection", ip-adapter_sd15 / _sdxl_vit-h / _sd15_light): image_proj.proj.{weight [N*D, E],
//     bias [N*D]}, image_proj.norm.{weight, bias} [D]; input image_embeds [B, E] (the encoder's projection);
//     tokens = LayerNorm(proj(image_embeds).reshape(B, N, D)), N = 4 in every released file.
//   plus ("Resampler", ip-adapter-plus* / -plus-face*): image_proj.latents [1, N, W], proj_in [W, E] + bias,
//     proj_out [D, W] + bias, norm_out [D], and per layer i: layers.i.0.{norm1, norm2 [W], to_q [64h, W],
//     to_kv [2*64h, W], to_out [W, 64h]} (h heads of fixed dim 64, no biases), layers.i.1.{0 (LayerNorm [W]),
//     1 [F, W], 3 [W, F]} (feed-forward, exact GELU, no biases); input hidden_states[-2] [B, T, E] (the
//     encoder's penultimate layer, no LayerNorm). Forward: x = proj_in(features), lat = latents; per layer
//     lat += to_out(attention(q = to_q(norm2(lat)), k, v = to_kv(concat_tokens(norm1(x), norm2(lat))) split
//     in halves, scale 1/8)); lat += fc2(gelu(fc1(LayerNorm(lat)))); tokens = norm_out(proj_out(lat)).
// Sizes are inferred from the shapes and checked against each other; every LayerNorm has eps 1e-5.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "io/safetensors.h"
#include "kernels/linear.h"
#include "kernels/precision.h"
#include "models/clip_vision_config.h"
#include "models/weights.h"

namespace i2i {

enum class IpAdapterVariant { Base, Plus };
const char* ip_adapter_variant_name(IpAdapterVariant v);  // "base" / "plus"

// What an adapter's image projection is and needs.
struct IpImageProjectionInfo {
  IpAdapterVariant variant = IpAdapterVariant::Base;
  int64_t cross_attention_dim = 0;  // D: width of the tokens (must equal the UNet's cross-attention dim)
  int64_t num_tokens = 0;           // N: 4 (base) or 16 (plus) in the released adapters
  // E: the width of the image encoder output the projection takes: base: image_embeds, the encoder's
  // projection_dim; plus: hidden_states[-2], the encoder's hidden size.
  int64_t encoder_width = 0;
  // plus only: the Resampler's width W, heads h (of dim 64) and layers.
  int64_t resampler_width = 0;
  int heads = 0;
  int depth = 0;
};

// The plus projection's intermediate values (for tests), batch as the input.
struct ResamplerTrace {
  Tensor proj_in;                  // [B, T, W]
  std::vector<Tensor> after_attn;  // per layer, latents after the attention and its residual [B, N, W]
  std::vector<Tensor> after_ff;    // per layer, after the feed-forward and its residual [B, N, W]
};

class IpImageProjection {
 public:
  IpImageProjection() = default;
  // `w`: the adapter's tensors under their original names (at least every `image_proj.*` one); its origin
  // names the file in errors. Detects the variant, infers and checks the sizes (an i2i::Error names the file
  // and the tensor at fault, or says which variant the keys look like when neither is recognised), and
  // prepares the Linear layers at `precision`.
  explicit IpImageProjection(const Weights& w, Precision precision = Precision::F32);

  // base: image_embeds [B, E] (or [B, 1, E]) -> tokens [B, N, D]; plus: hidden_states[-2] [B, T, E] ->
  // [B, N, D]. float32. `trace` (plus only, may be null) receives the Resampler's intermediates.
  Tensor operator()(const Tensor& embeds, ResamplerTrace* trace = nullptr) const;

  const IpImageProjectionInfo& info() const { return info_; }
  const std::string& origin() const { return origin_; }
  bool defined() const { return proj_.defined() || proj_in_.defined(); }

  // i2i::Error (one line, naming both) unless an encoder of `encoder` config gives what this projection
  // takes: base needs a visual projection of width E, plus a hidden size of E. `encoder_origin` is the
  // encoder's folder, for the message.
  void check_encoder(const ClipVisionConfig& encoder, const std::string& encoder_origin) const;

 private:
  struct ResamplerLayer {
    Tensor norm1_w, norm1_b, norm2_w, norm2_b, ff_norm_w, ff_norm_b;  // float32 [W]
    Linear to_q, to_k, to_v, to_out, fc1, fc2;
  };
  Tensor base_forward(const Tensor& embeds) const;
  Tensor plus_forward(const Tensor& features, ResamplerTrace* trace) const;

  IpImageProjectionInfo info_;
  std::string origin_;
  // base
  Linear proj_;
  Tensor norm_w_, norm_b_;  // float32 [D]
  // plus
  Tensor latents_;  // float32 [N, W]
  Linear proj_in_, proj_out_;
  Tensor norm_out_w_, norm_out_b_;
  std::vector<ResamplerLayer> layers_;
};

// The `image_proj.*` part of an adapter file (original h94 layout, .safetensors), e.g.
// models/ip-adapter-plus_sd15.safetensors. The file is read once by the caller and may be shared with the
// loader of its ip_adapter.N weights.
IpImageProjection load_ip_image_projection(const SafeTensors& file, Precision precision = Precision::F32);
IpImageProjection load_ip_image_projection(const std::filesystem::path& adapter_file,
                                           Precision precision = Precision::F32);

}  // namespace i2i
