// Prompt embeddings as the Stable Diffusion pipelines compute them from token ids (diffusers encode_prompt).
// Ids come from the tokenizer: [B, 77], padded with the model's pad id and truncated as the pipelines do.
#pragma once

#include "core/tensor.h"
#include "models/clip_text.h"

namespace i2i {

// SD 1.x / 2.x: last_hidden_state when clip_skip == 0, else final_layer_norm(hidden_states[-1 - clip_skip])
// (diffusers' clip_skip numbering: 1 is A1111's "Clip skip: 2"). [B, T, hidden]
Tensor encode_prompt_sd(const ClipTextEncoder& encoder, const Tensor& ids, int clip_skip = 0);

struct SdxlPromptEmbeddings {
  Tensor prompt_embeds;  // [B, T, hidden1 + hidden2]
  Tensor pooled;         // [B, projection2]: encoder 2's text_embeds
};

// SDXL: concat(encoder1 hidden_states[-2 - clip_skip], encoder2 hidden_states[-2 - clip_skip]) along features
// (no final LayerNorm on either) and encoder 2's projected pooled state. ids1 / ids2 are each encoder's own
// tokenization (their pad ids differ). encoder2 must have a projection.
SdxlPromptEmbeddings encode_prompt_sdxl(const ClipTextEncoder& encoder1, const Tensor& ids1,
                                        const ClipTextEncoder& encoder2, const Tensor& ids2,
                                        int clip_skip = 0);

}  // namespace i2i
