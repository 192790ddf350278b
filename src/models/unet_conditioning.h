// UNetConditioning: everything besides the latent and the timestep that steers one UNet2DCondition (or
// ControlNet) forward pass, passed by const reference from UNet2DCondition::forward down to the attention
// layers. Contract:
// - `context` is required; every other field is optional and, when left empty (undefined tensors, no
//   residuals, no hook), the forward pass does exactly the arithmetic of a plain text-conditioned pass, bit
//   for bit.
// - Fields the loaded model has no layers for are rejected with a one-line i2i::Error, never ignored:
//   `text_embeds` / `time_ids` for a UNet without SDXL's add_embedding (and an SDXL UNet requires them);
//   image prompts must come with an adapter loaded for the UNet (IpAdapterAttention).
// - A ControlNet reads `context` (and rejects `text_embeds` / `time_ids` like the UNet); it ignores
//   `residuals`, `image_prompts` and `hook`, which diffusers applies to the UNet only.
// Each field follows a diffusers feature, named at the field.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace i2i {

// ControlNet outputs added inside the UNet (diffusers down_block_additional_residuals /
// mid_block_additional_residual), NHWC, already multiplied by the conditioning scale: one tensor per skip
// connection (12 for the SD 1.x structure) in creation order, and the mid-block residual (may be undefined).
struct UNetResiduals {
  std::vector<Tensor> down;
  Tensor mid;
};

class IpAdapterAttention;

// One IP-Adapter unit's image prompt (diffusers IPAdapterAttnProcessor): every cross-attention adds
// scale * attn(q, to_k_ip(tokens), to_v_ip(tokens)) to attn(q, to_k(context), to_v(context)) before to_out,
// with the adapter's own key/value projections - two separate softmaxes, not one over concatenated tokens.
// Several units (several adapters, or one adapter with several images) add their terms; a layer whose
// scale is 0 adds nothing, so scale 0 everywhere is the plain UNet bit for bit.
struct ImagePrompt {
  const IpAdapterAttention* adapter = nullptr;  // not owned; loaded for this UNet (ip_adapter_attention.h)
  Tensor tokens;  // float32 [B, N, cross_attention_dim]: the image embedding after the adapter's projection
  // Per cross-attention layer: empty (every layer uses `scale`) or one factor per BasicTransformerBlock in
  // UNet2DCondition::transformer_block_names() order, multiplied with `scale` (diffusers
  // set_ip_adapter_scale with per-block values, e.g. InstantStyle's 0/1 masks).
  std::vector<float> layer_scales;
  float scale = 1.f;
};

// Observes and may replace tensors inside a UNet forward pass (diffusers reference-only conditioning,
// StableDiffusionReferencePipeline: a write pass stores them, a read pass uses them). Layer names are the
// diffusers module names. Each method returns an undefined Tensor to leave the pass unchanged, or a
// replacement. Called only when UNetConditioning::hook is set, in forward order, on the calling thread. The
// pass may later modify the tensors it hands over or gets back in place: clone what you keep.
class UNetHook {
 public:
  virtual ~UNetHook() = default;

  // The self-attention (attn1) of a BasicTransformerBlock, e.g.
  // "down_blocks.1.attentions.0.transformer_blocks.0.attn1". `input` is norm1(h) [B, T, C]: the queries
  // and, by default, the keys and values. A replacement [B, T', C] float32 becomes the source of the keys
  // and values only (reference-only's read pass: concat(input, stored) along the tokens).
  virtual Tensor self_attention_input(const std::string& /*name*/, const Tensor& /*input*/) { return {}; }

  // Asked right after self_attention_input gave a replacement for `name`: per sample b of the batch, the
  // weight w_b of the plain self-attention (keys and values from `input` alone) in that sample's output,
  // attn1_b = w_b * plain_b + (1 - w_b) * replaced_b (reference-only's style fidelity, which keeps the
  // unconditional half of a CFG batch partly plain). Empty, or all zero: the replaced attention alone. The
  // plain attention is computed only for the samples from the first to the last one with w_b != 0.
  virtual std::vector<float> plain_self_attention_weights(const std::string& /*name*/) { return {}; }

  // The output [B, H, W, C] of one layer of a down / mid / up block, named after the module that produced it:
  // "down_blocks.i.attentions.j" (or "...resnets.j" in a block without transformers; the same in up blocks)
  // before it is stored as a skip connection, and "mid_block" for the whole mid block. A replacement must
  // have the same shape (reference-only's AdaIN of per-channel mean / variance).
  virtual Tensor block_output(const std::string& /*name*/, const Tensor& /*output*/) { return {}; }
};

struct UNetConditioning {
  // encoder_hidden_states: float32 [B, S, cross_attention_dim], the prompt embedding.
  Tensor context;
  // SDXL added conditions (diffusers addition_embed_type "text_time"): the pooled text embedding
  // [B, projection_dim] and the time ids [B, 6] (base: original size, crop top-left, target size, each
  // (h, w) / (top, left)) or [B, 5] (refiner: original size, crop top-left, aesthetic score) that go through
  // add_time_proj / add_embedding into the time embedding. Undefined for SD 1.x / 2.x.
  Tensor text_embeds;
  Tensor time_ids;
  // LCM-distilled UNets (time_cond_proj_dim > 0): the guidance-scale embedding [B, time_cond_proj_dim]
  // (guidance_scale_embedding in unet_time.h) added to the timestep sinusoid; required by them, refused by
  // other UNets.
  Tensor timestep_cond;
  // IP-Adapter units (see ImagePrompt); none when empty.
  std::vector<ImagePrompt> image_prompts;
  // ControlNet residuals (see UNetResiduals); none when empty.
  std::optional<UNetResiduals> residuals;
  // Reference-only and similar hooks (see UNetHook); not owned, none when null.
  UNetHook* hook = nullptr;
};

// Checks `cond.context` against [batch, S, cross_attention_dim] float32 and, unless the model has SDXL's
// added-embedding layers, that the SDXL added conditions are absent; messages start with `who` ("UNet",
// "ControlNet").
void check_text_conditioning(const UNetConditioning& cond, const std::string& who, int64_t batch,
                             int64_t cross_attention_dim, bool has_added_conditions = false);

}  // namespace i2i
