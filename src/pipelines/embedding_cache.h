// The textual-inversion embeddings of a request, found as AUTOMATIC1111 finds them: every file in the
// embeddings folder (--embeddings-dir, else `embeddings/` of the models folder; subfolders included, as
// A1111 walks them) is an embedding named by its file name without extension; a name counts when the
// prompt or the negative prompt uses it (prompt_embedding.h: its token ids, not a substring). Only the
// names are scanned per request; a file is read when a prompt first uses it and kept in the ModelSet's
// EmbeddingCache (read again when the file changes), so a server does not re-read it per request.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "models/embedding_file.h"
#include "pipelines/generation_params.h"
#include "pipelines/sd_model.h"

namespace i2i {

// name -> file for the embedding files under `folder` (.safetensors, and the pickled .pt / .bin / .ckpt /
// .pth, which are refused only when a prompt uses them). Where two files give one name, a .safetensors
// one wins, else the first in path order. A folder that does not exist gives none.
std::map<std::string, std::filesystem::path> list_embedding_files(const std::filesystem::path& folder);

// Embeddings read once per file. Thread-safe (reading happens outside the lock).
class EmbeddingCache {
 public:
  // The embedding in `file` (read_embedding_file and its errors), read again when the file's size or
  // modification time changed since it was read.
  std::shared_ptr<const TextualInversion> get(const std::filesystem::path& file);
  // How many files get() has read (tests check the caching).
  int64_t reads() const;
  void clear();

 private:
  struct Entry {
    uintmax_t size = 0;
    std::filesystem::file_time_type mtime;
    std::shared_ptr<const TextualInversion> embedding;
  };
  mutable std::mutex mutex_;
  std::map<std::string, Entry> entries_;  // by absolute path
  int64_t reads_ = 0;
};

struct RequestEmbeddings {
  // Those the prompt or the negative prompt uses, checked against the model's text encoders.
  std::vector<std::shared_ptr<const TextualInversion>> embeddings;
  // (name, A1111's short hash: the first 12 hex digits of the file's SHA-256), for the parameters text.
  std::vector<std::pair<std::string, std::string>> hashes;
};

// The text encoder widths an embedding must fit (one entry per encoder).
std::vector<int64_t> text_encoder_widths(const SdModel& model);

// The embeddings `p.prompt` and `p.negative_prompt` use, from embeddings_folder(p.embeddings_dir,
// p.models_dir), matched with the model's tokenizer. Throws i2i::Error naming the file when a used one
// cannot be read, is pickled, or does not fit the model (check_embedding_fits).
RequestEmbeddings find_request_embeddings(EmbeddingCache& cache, const SdModel& model,
                                          const GenerationParams& p);

}  // namespace i2i
