// AUTOMATIC1111's long-prompt handling: the weighted prompt is tokenized and cut into chunks of 75
// tokens (a chunk ends early at BREAK, and a chunk boundary backs up to a comma within the last 20
// tokens), each chunk framed as [bos] tokens [eos] [pad...] = 77 ids with one weight per id. The text
// encoder encodes each chunk on its own and the results are concatenated along the token axis.
//
// Textual-inversion embeddings are found as A1111's EmbeddingDatabase does (find_embedding_at_position in
// modules/textual_inversion/textual_inversion.py, used by sd_hijack_clip.py's tokenize_line): by the token
// ids of the embedding's name in each tokenized fragment (the tokenizer lower-cases, so case does not
// matter; a name glued to other letters, "tinymarks", tokenizes differently and is not found), the
// longest name first where several start at one token. The name's tokens are replaced by one placeholder
// id (0, as A1111) per vector, each with the fragment's weight; an embedding that does not fit in the
// current chunk starts the next one, so it is never split across chunks.
// When the comma backtrack moves the words after the last comma into the next chunk, an embedding among
// them moves with its vectors (A1111 moves the placeholder ids but leaves the vectors' positions in the
// closed chunk, where they then overwrite padding: a bug not reproduced).
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "text/prompt_parser.h"

namespace i2i {

// An embedding as the chunker sees it: the token ids of its name (no bos/eos) and its vector count.
struct ChunkEmbedding {
  std::vector<int> name_ids;
  int vectors = 1;
};

// Embedding `embedding` (an index into the list given to build_prompt_chunks) fills ids
// [position, position + vectors) of a chunk.
struct ChunkEmbeddingUse {
  int position = 0;
  int embedding = 0;
};

// The most chunks one prompt may take (4,800 tokens; each chunk is one text-encoder pass and 77 tokens of
// cross-attention in every UNet step). More is a ParameterError ({prompt}), before anything is encoded.
constexpr size_t kMaxPromptChunks = 64;

struct PromptChunk {
  std::vector<int> ids;            // 77 ids
  std::vector<float> multipliers;  // one weight per id (1 for bos/eos/padding)
  std::vector<ChunkEmbeddingUse> embeddings;
};

// The embedding whose name's ids start at tokens[offset] (the longest name when several match there), or
// -1.
int find_embedding_at(const std::vector<int>& tokens, size_t offset,
                      const std::vector<ChunkEmbedding>& embeddings);

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
    const std::function<std::vector<int>(const std::string&)>& tokenize, const ChunkSpec& spec = {},
    const std::vector<ChunkEmbedding>& embeddings = {});

}  // namespace i2i
