#include "pipelines/embedding_cache.h"

#include <algorithm>
#include <cctype>

#include "core/error.h"
#include "io/file_hash.h"
#include "models/models_folder.h"
#include "pipelines/prompt_embedding.h"

namespace i2i {
namespace fs = std::filesystem;

namespace {

// Lower-case ASCII without whitespace: a name whose tokens occur in a prompt occurs in it in this form
// (the tokenizer lower-cases and splits on whitespace), so names that do not can be skipped before
// tokenizing. Names with non-ASCII bytes are always tokenized (their lower-casing is Unicode's).
std::string squeezed(const std::string& s) {
  std::string out;
  for (char c : s)
    if (!std::isspace(static_cast<unsigned char>(c)))
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool may_appear(const std::string& name, const std::string& squeezed_text) {
  for (char c : name)
    if (static_cast<unsigned char>(c) >= 0x80) return true;
  return squeezed_text.find(squeezed(name)) != std::string::npos;
}

}  // namespace

std::map<std::string, fs::path> list_embedding_files(const fs::path& folder) {
  std::map<std::string, fs::path> out;
  std::error_code ec;
  if (folder.empty() || !fs::is_directory(folder, ec)) return out;
  std::vector<fs::path> files;
  for (fs::recursive_directory_iterator
           it(folder,
              // Links to folders are not followed: two links back up would make the walk exponential.
              fs::directory_options::skip_permission_denied, ec),
       end;
       !ec && it != end; it.increment(ec)) {
    if (is_embedding_file_name(it->path()) && it->is_regular_file(ec)) files.push_back(it->path());
  }
  std::sort(files.begin(), files.end());
  for (const fs::path& f : files) {
    auto [slot, added] = out.emplace(f.stem().string(), f);
    if (!added && is_pickled_embedding(slot->second) && !is_pickled_embedding(f)) slot->second = f;
  }
  return out;
}

std::shared_ptr<const TextualInversion> EmbeddingCache::get(const fs::path& file) {
  std::error_code ec;
  const std::string key = fs::absolute(file, ec).lexically_normal().string();
  Entry now;
  now.size = fs::file_size(file, ec);
  now.mtime = fs::last_write_time(file, ec);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = entries_.find(key);
    if (it != entries_.end() && it->second.size == now.size && it->second.mtime == now.mtime)
      return it->second.embedding;
  }
  now.embedding = std::make_shared<const TextualInversion>(read_embedding_file(file));
  std::lock_guard<std::mutex> lock(mutex_);
  ++reads_;
  entries_[key] = now;
  return now.embedding;
}

int64_t EmbeddingCache::reads() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return reads_;
}

void EmbeddingCache::clear() {
  std::lock_guard<std::mutex> lock(mutex_);
  entries_.clear();
}

std::vector<int64_t> text_encoder_widths(const SdModel& model) {
  // One entry per text encoder, in the model's order (an SDXL model: encoder 1, then encoder 2).
  if (model.sdxl() && !model.refiner())
    return {model.text_encoder.config().hidden_size, model.text_encoder_2.config().hidden_size};
  return {model.text_encoder.config().hidden_size};
}

RequestEmbeddings find_request_embeddings(EmbeddingCache& cache, const SdModel& model,
                                          const GenerationParams& p) {
  RequestEmbeddings out;
  const std::string text = squeezed(p.prompt + "\n" + p.negative_prompt);
  if (text.empty() || !model.tokenizer) return out;
  const std::map<std::string, fs::path> files =
      list_embedding_files(embeddings_folder(p.embeddings_dir, p.models_dir));
  std::vector<std::string> names;
  for (const auto& [name, file] : files)
    if (may_appear(name, text)) names.push_back(name);
  if (names.empty()) return out;
  std::vector<std::string> used = embeddings_in_prompt(*model.tokenizer, names, p.prompt, p.emphasis);
  for (const std::string& n : embeddings_in_prompt(*model.tokenizer, names, p.negative_prompt, p.emphasis))
    if (std::find(used.begin(), used.end(), n) == used.end()) used.push_back(n);
  const std::vector<int64_t> widths = text_encoder_widths(model);
  for (const std::string& name : used) {
    const fs::path& file = files.at(name);
    std::shared_ptr<const TextualInversion> e = cache.get(file);
    check_embedding_fits(*e, widths);
    out.embeddings.push_back(e);
    out.hashes.emplace_back(name, HashCache::user().sha256(file).substr(0, 12));
  }
  return out;
}

}  // namespace i2i
