// The UNet side of one IP-Adapter (h94/IP-Adapter; diffusers IPAdapterAttnProcessor): for every
// cross-attention (attn2) of the UNet a key and a value projection of the image tokens, to_k_ip / to_v_ip
// (Linear [hidden size of that layer, cross_attention_dim], no bias). The adapter is an object of its own
// beside the UNet, never merged into it: one UNet serves requests with any number of adapters (their
// attention outputs add up, see ImagePrompt in unet_conditioning.h) or none.
//
// Original (h94) file layout, read here: `ip_adapter.N.to_k_ip.weight` / `ip_adapter.N.to_v_ip.weight` with
// N = 1, 3, 5, ... numbering the layers in diffusers' `unet.attn_processors` order - down blocks, then up
// blocks, then the mid block; within a transformer block attn1 takes the even number, attn2 the odd one -
// so the k-th cross-attention in that order is N = 2k + 1 (SD 1.5: 1..11 down, 13..29 up, 31 mid). The
// image projection (`image_proj.*`) of the same file is read by models/ip_image_projection.h.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/linear.h"
#include "models/weights.h"

namespace i2i {

class UNet2DCondition;

class IpAdapterAttention {
 public:
  struct Layer {
    Linear to_k, to_v;  // [hidden, cross_attention_dim], no bias
  };

  IpAdapterAttention() = default;
  // Reads every `ip_adapter.N.to_{k,v}_ip.weight` of `w` (an adapter file's tensors; w.origin() names it in
  // errors) for the transformer blocks of `unet`, at `precision`. Throws a one-line i2i::Error naming the
  // file and the mismatch when the file has no IP-Adapter layers, when its cross-attention width is not the
  // UNet's (e.g. an SDXL adapter, 2048, on SD 1.5, 768), when it has another number of layers than the UNet
  // has cross-attentions, when a layer's width is not its block's, or when a key is missing or misshaped.
  // `model` names the UNet's model in messages.
  IpAdapterAttention(const Weights& w, const UNet2DCondition& unet, const std::string& model,
                     Precision precision);

  // The projections of the transformer block with forward-order index `block` (UNet2DCondition::
  // transformer_block_names() order: down, mid, up).
  const Layer& layer(size_t block) const { return layers_.at(block); }
  size_t layer_count() const { return layers_.size(); }
  // The layer widths (to_k_ip rows) in forward order, and the token width (to_k_ip columns).
  const std::vector<int64_t>& widths() const { return widths_; }
  int64_t cross_attention_dim() const { return cross_attention_dim_; }
  const std::string& origin() const { return origin_; }

 private:
  std::vector<Layer> layers_;
  std::vector<int64_t> widths_;
  int64_t cross_attention_dim_ = 0;
  std::string origin_;
};

// The number N of the original layout's `ip_adapter.N.*` keys for each transformer block, in forward order:
// the k-th block in attn_processors order (down blocks, up blocks, mid block) gets 2k + 1.
std::vector<int> ip_adapter_key_ids(const std::vector<std::string>& transformer_block_names);

// The family a cross-attention width belongs to, for messages: "SD 1.x" (768), "SD 2.x" (1024), "SDXL"
// (2048), else "" (e.g. the fixtures' tiny models).
std::string family_of_cross_attention_dim(int64_t dim);

}  // namespace i2i
