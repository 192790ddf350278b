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

// How clip skip treats the negative prompt. diffusers (0.27) applies clip_skip to the prompt only: the
// negative prompt is always encoded as with clip_skip 0 (SD: last_hidden_state; SDXL: hidden_states[-2]); the
// fixtures' encode_prompt_cases follow it. A1111 applies clip skip to both.
enum class NegativeClipSkip { Diffusers, SameAsPrompt };

struct SdPromptPair {
  Tensor prompt_embeds;           // [B, T, hidden]
  Tensor negative_prompt_embeds;  // [B, T, hidden]
};
SdPromptPair encode_prompt_pair_sd(const ClipTextEncoder& encoder, const Tensor& ids,
                                   const Tensor& negative_ids, int clip_skip = 0,
                                   NegativeClipSkip mode = NegativeClipSkip::Diffusers);

struct SdxlPromptPair {
  SdxlPromptEmbeddings prompt, negative;
};
// ids*_1 for encoder 1, ids*_2 for encoder 2 (each with its own pad id).
SdxlPromptPair encode_prompt_pair_sdxl(const ClipTextEncoder& encoder1, const ClipTextEncoder& encoder2,
                                       const Tensor& ids1, const Tensor& ids2, const Tensor& negative_ids1,
                                       const Tensor& negative_ids2, int clip_skip = 0,
                                       NegativeClipSkip mode = NegativeClipSkip::Diffusers);

}  // namespace i2i
