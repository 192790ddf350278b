// Analytic FLOP counts of the Stable Diffusion models, for benchmarks: 2*M*N*K for every matmul and
// convolution (M output positions, N output channels, K = in channels * kernel area) and 2*Tq*Tk*D for each
// of attention's two products (Q K^T and P V), summed over heads. Normalisation, activations, softmax and
// element-wise work are not counted (they are O(activations), not O(activations * channels)).
#pragma once

#include <cstdint>

#include "models/clip_text_config.h"
#include "models/clip_vision_config.h"
#include "models/unet_config.h"
#include "models/vae_config.h"

namespace i2i::bench {

// One UNet forward: batch samples of a latent h x w, context of `context_len` tokens.
double unet_forward_flops(const UNetConfig& c, int64_t batch, int64_t h, int64_t w, int64_t context_len);
// VAE encode (encoder + quant_conv) of a batch of H x W images.
double vae_encode_flops(const VaeConfig& c, int64_t batch, int64_t height, int64_t width);
// VAE decode (post_quant_conv + decoder) of a batch of h x w latents.
double vae_decode_flops(const VaeConfig& c, int64_t batch, int64_t h, int64_t w);
// CLIP text encoder on a batch of `tokens`-long sequences (attention counted in full, not causal-halved).
double clip_text_flops(const ClipTextConfig& c, int64_t batch, int64_t tokens);
// CLIP vision encoder on a batch of pictures: patch convolution, every layer, and the projection of the
// pooled class token.
double clip_vision_flops(const ClipVisionConfig& c, int64_t batch);

}  // namespace i2i::bench
