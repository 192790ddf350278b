// IP-Adapter units in the denoising loop (diffusers 0.27's ip_adapter_image path of the Stable Diffusion
// pipelines): each unit is an adapter's attention layers with the image tokens of its reference image,
// computed once per generation (the image encoder and projection do not depend on t) for the positive
// image and for the unconditional one (base: the projection of a zero embedding; plus: the encoder's output
// for zero pixel values). The UNet batch gets them in the prompt's layout: [negative x B, positive x B]
// with classifier-free guidance, positive x B without. The units draw no noise.
#pragma once

#include <string>
#include <vector>

#include "core/tensor.h"
#include "models/ip_adapter_attention.h"
#include "models/unet_conditioning.h"

namespace i2i {

struct IpAdapterUnit {
  const IpAdapterAttention* adapter = nullptr;  // not owned
  std::string name;                             // the adapter's file, for messages
  Tensor positive, negative;                    // image tokens [1, N, cross_attention_dim] float32
  float scale = 1.f;                            // diffusers set_ip_adapter_scale
  // Empty (every layer at `scale`) or one factor per UNet transformer block in forward order
  // (UNet2DCondition::transformer_block_names()), multiplied with `scale`: InstantStyle's layer choice.
  std::vector<float> layer_scales;
};

// Throws i2i::Error naming the unit for a missing adapter, tokens that are not [1, N, D] float32 (the
// negative only needed with guidance) or differ in shape, and a scale that is not finite.
void validate_ip_adapter_unit(const IpAdapterUnit& unit, bool cfg);

// One entry of an explicit layer choice (--ip-adapter-layers "NAME=S,..."): a diffusers module name - a
// transformer block, an attention ("up_blocks.1.attentions.1"), a block ("up_blocks.1", "mid_block") or a
// side ("up_blocks") - and its scale.
struct IpAdapterLayerScale {
  std::string name;
  double scale = 1.0;
};

// "NAME=S,NAME=S" (spaces around the items allowed) -> entries in order. Throws ParameterError
// ({ip_adapter_layers}) for an item without '=', an empty name, a name given twice or a scale that is not a
// number.
std::vector<IpAdapterLayerScale> parse_ip_adapter_layers(const std::string& text);
// The text form of entries ("up_blocks.1.attentions.1=1,mid_block=0.5"), as parse_ip_adapter_layers reads.
std::string format_ip_adapter_layers(const std::vector<IpAdapterLayerScale>& layers);

// Per-layer factors (one per name in `block_names`, UNet2DCondition::transformer_block_names() order) for an
// explicit layer choice: a block gets the scale of the entry whose name is its own name or a prefix of it
// ending at a '.', the most specific entry winning; blocks no entry covers get 0. Throws ParameterError
// ({ip_adapter_layers}) for a name that covers no transformer block (naming the model's blocks) or a
// scale that is not finite.
std::vector<float> ip_adapter_layer_scales(const std::vector<IpAdapterLayerScale>& layers,
                                           const std::vector<std::string>& block_names);

// InstantStyle's layers for a mode (--ip-adapter-mode): "all" -> none (every layer at the unit's scale);
// SDXL: "style" = up_blocks.0.attentions.1, "composition" = down_blocks.2.attentions.1, "style+composition"
// both (InstantStyle's SDXL scale dicts); SD 1.x / 2.x (the InstantStyle authors' SD 1.5 script): "style"
// = every attention of up_blocks.1, "composition" = every attention of down_blocks.2,
// "style+composition" = both plus mid_block. Each at scale 1. Throws ParameterError ({ip_adapter_mode})
// for another mode.
std::vector<IpAdapterLayerScale> ip_adapter_mode_layers(const std::string& mode, bool sdxl);

// The UNet's image prompts for a batch of `batch` pictures: tokens [negative x batch, positive x batch]
// with guidance (`cfg`), [positive x batch] without.
std::vector<ImagePrompt> image_prompts(const std::vector<IpAdapterUnit>& units, int64_t batch, bool cfg);

}  // namespace i2i
