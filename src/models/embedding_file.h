// Textual-inversion embeddings as AUTOMATIC1111 and civitai distribute them, read from `.safetensors`
// (A1111 modules/textual_inversion/textual_inversion.py, create_embedding_from_data):
//   * SD 1.x / 2.x: `emb_params` [n, width], or a file holding one tensor under any key (diffusers'
//     learned_embeds: [width] or [n, width]);
//   * SDXL: `clip_l` [n, 768] and `clip_g` [n, 1280], one set of vectors per text encoder.
// Any float dtype (f32 / f16 / bf16), read as float32. The embedding's name (the word that calls it in a
// prompt) is the file name without extension.
//
// Pickled files (`.pt`, `.bin`, `.ckpt`, `.pth`) are refused: unpickling runs code from the file, so a
// downloaded one can do anything; A1111 loads them with torch.load, i2i asks for a .safetensors copy.
// A1111 silently skips an embedding whose width does not fit the model; i2i reports it
// (check_embedding_fits).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace i2i {

struct TextualInversion {
  std::string name;            // the file name without extension
  std::filesystem::path file;  // where it was read from
  int64_t vectors = 0;         // tokens it takes in a prompt
  Tensor single;               // [vectors, width] float32 (SD 1.x / 2.x files); undefined for SDXL files
  Tensor clip_l, clip_g;       // [vectors, width] float32 (SDXL files); undefined otherwise

  bool sdxl() const { return clip_l.defined(); }
  // The vectors for a text encoder `width` features wide, or nullptr when the file has none of that width.
  const Tensor* vectors_for(int64_t width) const;
  // "16" or "clip_l 16, clip_g 24", for messages.
  std::string widths_text() const;
};

// The most vectors one embedding may have: it must fit in one 75-token prompt chunk.
constexpr int64_t kMaxEmbeddingVectors = 75;

// True for the extensions of pickled embedding files (.pt, .bin, .ckpt, .pth; any case).
bool is_pickled_embedding(const std::filesystem::path& file);
// True for what an embeddings folder may hold: .safetensors files and (to be refused by name) pickled ones.
bool is_embedding_file_name(const std::filesystem::path& file);

// Reads `file`. Throws i2i::Error (one line naming the file): a pickled file (why it is refused), a file
// that is no valid safetensors (truncated, bad header), no usable tensor (several tensors and none of
// emb_params / clip_l + clip_g, only one of clip_l / clip_g, not floating point, not 1-D / 2-D), clip_l and
// clip_g with different vector counts, no vectors, more than kMaxEmbeddingVectors.
TextualInversion read_embedding_file(const std::filesystem::path& file);

// Checks that `e` fits a model whose text encoders are `widths` wide (one entry for SD 1.x / 2.x, two for
// SDXL: encoder 1, encoder 2). Throws i2i::Error naming the file, its width(s) and the model's: an SDXL
// embedding on a one-encoder model, a one-vector-set embedding on SDXL, or a width that differs.
void check_embedding_fits(const TextualInversion& e, const std::vector<int64_t>& widths);

}  // namespace i2i
