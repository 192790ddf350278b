// Prompt text -> the UNet's conditioning, with AUTOMATIC1111's prompt handling: emphasis weights
// (`(word:1.3)`), chunks of 75 tokens for long prompts (each encoded on its own, concatenated along the
// token axis), BREAK, and "Clip skip". A plain prompt of up to 75 tokens gives exactly diffusers' embedding.
#pragma once

#include <string>

#include "core/tensor.h"
#include "models/clip_text.h"
#include "text/tokenizer.h"

namespace i2i {

struct PromptOptions {
  int clip_skip = 1;     // A1111 numbering: 1 = the last layer, 2 = the penultimate one, ...
  bool emphasis = true;  // interpret (), [] and (text:weight)
};

// [1, 77 * chunks, hidden].
Tensor encode_prompt(const ClipTokenizer& tokenizer, const ClipTextEncoder& encoder,
                     const std::string& prompt, const PromptOptions& options = {});

// The conditional and unconditional embeddings, padded to the same number of chunks with the empty
// prompt's chunk (as A1111 does when one is longer than the other).
struct PromptPair {
  Tensor cond, uncond;
};
PromptPair encode_prompt_pair(const ClipTokenizer& tokenizer, const ClipTextEncoder& encoder,
                              const std::string& prompt, const std::string& negative_prompt,
                              const PromptOptions& options = {});

}  // namespace i2i
