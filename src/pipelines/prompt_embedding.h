// Prompt text -> the UNet's conditioning, with AUTOMATIC1111's prompt handling: emphasis weights
// (`(word:1.3)`), chunks of 75 tokens for long prompts (each encoded on its own, concatenated along the
// token axis), BREAK, "Clip skip", and textual-inversion embeddings (A1111's lookup, text/prompt_chunks.h:
// the name's token ids in the prompt are replaced by the embedding's vectors, for the encoder's width). A
// plain prompt of up to 75 tokens gives exactly diffusers' embedding, and so does a prompt whose
// embedding names stand apart from other letters (diffusers' added tokens, load_textual_inversion).
//
// This is the single-encoder path: a model with two text encoders (SDXL) runs it once per encoder, each
// with its own tokenizer; an SDXL embedding gives each encoder the vectors of its width (clip_l, clip_g).
//
// SDXL follows A1111's sgm path (modules/sd_models_xl.py, sd_hijack_clip.py, sd_hijack_open_clip.py): each
// text encoder runs that same per-encoder encoding (encode_prompt, emphasis and chunks on its own output)
// on the penultimate hidden state WITHOUT the final LayerNorm; the two are concatenated along the features,
// and the pooled embedding is encoder 2's projected EOS state of the FIRST chunk (the first EOS: embedding
// placeholders have id 0, A1111's pooling rather than diffusers' argmax over added token ids). A1111
// ignores "Clip skip" for SDXL (its option sdxl_clip_l_skip, off by default, is not offered), and so does
// i2i.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "models/clip_text.h"
#include "models/embedding_file.h"
#include "text/tokenizer.h"

namespace i2i {

struct PromptOptions {
  int clip_skip = 1;     // A1111 numbering: 1 = the last layer, 2 = the penultimate one, ...
  bool emphasis = true;  // interpret (), [] and (text:weight)
  // The embeddings a prompt may call by name (embedding_cache.h finds those a request uses).
  // Each must have vectors of the encoder's width (check_embedding_fits).
  std::vector<std::shared_ptr<const TextualInversion>> embeddings;
  // SDXL's embedders: hidden_states[-2] without the final LayerNorm, whatever clip_skip says.
  bool sdxl_penultimate = false;
};

// A prompt as one text encoder takes it: A1111's chunks of [bos] 75 tokens [eos] (padding after the eos
// with the tokenizer's pad id; embedding vectors at placeholder id 0), their weights, and the embeddings'
// vectors to put in (ClipTextOptions::token_vectors).
struct PromptTokens {
  Tensor ids;                                   // [chunks, 77] int64
  std::vector<std::vector<float>> multipliers;  // [chunks][77]
  std::vector<ClipTextOptions::TokenVectors> vectors;
  std::vector<std::string> vector_names;     // the embedding of each `vectors` entry
  std::vector<std::string> embeddings_used;  // names, in order of first use, each once
};
// `width`: the text encoder's hidden size (which vectors of an embedding to use). Throws i2i::Error when an
// embedding the prompt uses has no vectors of that width.
PromptTokens tokenize_prompt(const ClipTokenizer& tokenizer, int64_t width, const std::string& prompt,
                             const PromptOptions& options = {});

// A1111's emphasis on the encoder's output z [chunks, 77, D] (in place): each token's features times its
// weight, then each weighted chunk rescaled to its former mean.
void apply_emphasis(Tensor& z, const PromptTokens& tokens);

// The names of `embeddings` a prompt uses, as tokenize_prompt finds them (in order of first use).
std::vector<std::string> embeddings_in_prompt(const ClipTokenizer& tokenizer,
                                              const std::vector<std::string>& names,
                                              const std::string& prompt, bool emphasis);

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
