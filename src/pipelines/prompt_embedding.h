// Prompt text -> the UNet's conditioning, with AUTOMATIC1111's prompt handling: emphasis weights
// (`(word:1.3)`), chunks of 75 tokens for long prompts (each encoded on its own, concatenated along the
// token axis), BREAK, and "Clip skip". A plain prompt of up to 75 tokens gives exactly diffusers' embedding.
//
// SDXL follows A1111's sgm path (modules/sd_models_xl.py, sd_hijack_clip.py, sd_hijack_open_clip.py): each
// text encoder runs that same per-encoder encoding (encode_prompt, emphasis and chunks on its own output)
// on the penultimate hidden state WITHOUT the final LayerNorm; the two are concatenated along the features,
// and the pooled embedding is encoder 2's projected EOS state of the FIRST chunk. A1111 ignores "Clip skip"
// for SDXL (its option sdxl_clip_l_skip, off by default, is not offered), and so does i2i.
#pragma once

#include <string>

#include "core/tensor.h"
#include "models/clip_text.h"
#include "text/tokenizer.h"

namespace i2i {

struct PromptOptions {
  int clip_skip = 1;     // A1111 numbering: 1 = the last layer, 2 = the penultimate one, ...
  bool emphasis = true;  // interpret (), [] and (text:weight)
  // SDXL's embedders: hidden_states[-2] without the final LayerNorm, whatever clip_skip says.
  bool sdxl_penultimate = false;
};

// [1, 77 * chunks, hidden]. With `pooled`: also the encoder's projected pooled output (text_embeds) of
// the first chunk, [1, projection] (the encoder must have a projection).
Tensor encode_prompt(const ClipTokenizer& tokenizer, const ClipTextEncoder& encoder,
                     const std::string& prompt, const PromptOptions& options = {}, Tensor* pooled = nullptr);

// The conditional and unconditional embeddings, padded to the same number of chunks with the empty
// prompt's chunk (as A1111 does when one is longer than the other).
struct PromptPair {
  Tensor cond, uncond;
};
PromptPair encode_prompt_pair(const ClipTokenizer& tokenizer, const ClipTextEncoder& encoder,
                              const std::string& prompt, const std::string& negative_prompt,
                              const PromptOptions& options = {});

// SDXL: prompt_embeds [1, 77 * chunks, hidden1 + hidden2] (the refiner, without encoder 1: hidden2) and
// pooled [1, projection2].
struct XlPromptEmbedding {
  Tensor embeds, pooled;
};
// The text encoders of an SDXL model: tokenizer1 / encoder1 null for the refiner.
struct XlTextEncoders {
  const ClipTokenizer* tokenizer1 = nullptr;
  const ClipTextEncoder* encoder1 = nullptr;
  const ClipTokenizer* tokenizer2 = nullptr;
  const ClipTextEncoder* encoder2 = nullptr;
};
XlPromptEmbedding encode_prompt_xl(const XlTextEncoders& encoders, const std::string& prompt,
                                   const PromptOptions& options = {});
// Both, padded to the same number of chunks as encode_prompt_pair. `zero_empty_negative` (diffusers'
// force_zeros_for_empty_prompt; A1111 does the same for an empty SDXL negative prompt): an empty negative
// prompt gives zeros of the positive's shape instead of the encoded empty text.
struct XlPromptPair {
  XlPromptEmbedding cond, uncond;
};
XlPromptPair encode_prompt_pair_xl(const XlTextEncoders& encoders, const std::string& prompt,
                                   const std::string& negative_prompt, bool zero_empty_negative,
                                   const PromptOptions& options = {});

}  // namespace i2i
