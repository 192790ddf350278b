// AUTOMATIC1111's long-prompt handling: the weighted prompt is tokenized and cut into chunks of 75
// tokens (a chunk ends early at BREAK, and a chunk boundary backs up to a comma within the last 20
// tokens), each chunk framed as [bos] tokens [eos] [pad...] = 77 ids with one weight per id. The text
// encoder encodes each chunk on its own and the results are concatenated along the token axis.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "text/prompt_parser.h"

namespace i2i {

struct PromptChunk {
  std::vector<int> ids;            // 77 ids
  std::vector<float> multipliers;  // one weight per id (1 for bos/eos/padding)
};

struct ChunkSpec {
  int bos = 49406;
  int eos = 49407;
  int pad = 49407;  // 49407 for CLIP-L (SD 1.x), 0 for OpenCLIP (SD 2.x)
  int comma = 267;  // ",</w>"
  int chunk_length = 75;
  int comma_backtrack = 20;  // A1111's default "comma_padding_backtrack"
};

// `tokenize` turns a text fragment into token ids without bos/eos and without truncation.
// Always returns at least one chunk. Plain prompts of up to 75 tokens give exactly the ids diffusers
// uses ([bos] tokens [eos] then padding) with all weights 1.
std::vector<PromptChunk> build_prompt_chunks(
    const std::vector<WeightedText>& parsed,
    const std::function<std::vector<int>(const std::string&)>& tokenize, const ChunkSpec& spec = {});

}  // namespace i2i
