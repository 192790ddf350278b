#include "text/prompt_chunks.h"

#include <algorithm>

#include "core/error.h"

namespace i2i {

int find_embedding_at(const std::vector<int>& tokens, size_t offset,
                      const std::vector<ChunkEmbedding>& embeddings) {
  int best = -1;
  size_t best_length = 0;
  for (size_t e = 0; e < embeddings.size(); ++e) {
    const std::vector<int>& name = embeddings[e].name_ids;
    if (name.empty() || name.size() <= best_length || offset + name.size() > tokens.size()) continue;
    if (std::equal(name.begin(), name.end(), tokens.begin() + static_cast<long>(offset))) {
      best = static_cast<int>(e);
      best_length = name.size();
    }
  }
  return best;
}

std::vector<PromptChunk> build_prompt_chunks(
    const std::vector<WeightedText>& parsed,
    const std::function<std::vector<int>(const std::string&)>& tokenize, const ChunkSpec& spec,
    const std::vector<ChunkEmbedding>& embeddings) {
  std::vector<PromptChunk> chunks;
  std::vector<int> ids;
  std::vector<float> mults;
  std::vector<ChunkEmbeddingUse> uses;  // positions counted in `ids` (before the bos is put in front)
  int last_comma = -1;
  const size_t length = static_cast<size_t>(spec.chunk_length);
  for (const ChunkEmbedding& e : embeddings)
    check(e.vectors >= 1 && static_cast<size_t>(e.vectors) <= length,
          "an embedding of " + std::to_string(e.vectors) + " vectors does not fit in a prompt chunk of " +
              std::to_string(length) + " tokens");

  auto close_chunk = [&]() {
    if (chunks.size() >= kMaxPromptChunks)
      throw ParameterError("{prompt} or {negative_prompt}: needs more than " +
                           std::to_string(kMaxPromptChunks) + " chunks of " + std::to_string(length) +
                           " tokens (BREAK starts a chunk), more than i2i encodes");
    PromptChunk c;
    c.ids.push_back(spec.bos);
    c.multipliers.push_back(1.0f);
    c.ids.insert(c.ids.end(), ids.begin(), ids.end());
    c.multipliers.insert(c.multipliers.end(), mults.begin(), mults.end());
    c.ids.push_back(spec.eos);
    c.multipliers.push_back(1.0f);
    c.ids.resize(length + 2, spec.pad);
    c.multipliers.resize(length + 2, 1.0f);
    for (ChunkEmbeddingUse u : uses) c.embeddings.push_back({u.position + 1, u.embedding});
    chunks.push_back(std::move(c));
    ids.clear();
    mults.clear();
    uses.clear();
    last_comma = -1;
  };

  for (const auto& part : parsed) {
    if (part.is_break) {
      close_chunk();
      continue;
    }
    const std::vector<int> tokens = tokenize(part.text);
    size_t position = 0;
    while (position < tokens.size()) {
      const int token = tokens[position];
      if (token == spec.comma) {
        last_comma = static_cast<int>(ids.size());
      } else if (spec.comma_backtrack > 0 && ids.size() == length && last_comma != -1 &&
                 static_cast<int>(ids.size()) - last_comma <= spec.comma_backtrack) {
        // Move the words after the last comma into the next chunk (with the embeddings among them; the
        // cut is right after a comma, so it never falls inside an embedding's vectors).
        const size_t cut = static_cast<size_t>(last_comma) + 1;
        std::vector<int> moved_ids(ids.begin() + static_cast<long>(cut), ids.end());
        std::vector<float> moved_mults(mults.begin() + static_cast<long>(cut), mults.end());
        std::vector<ChunkEmbeddingUse> moved_uses, kept_uses;
        for (ChunkEmbeddingUse u : uses) {
          if (static_cast<size_t>(u.position) >= cut)
            moved_uses.push_back({u.position - static_cast<int>(cut), u.embedding});
          else
            kept_uses.push_back(u);
        }
        ids.resize(cut);
        mults.resize(cut);
        uses = std::move(kept_uses);
        close_chunk();
        ids = std::move(moved_ids);
        mults = std::move(moved_mults);
        uses = std::move(moved_uses);
      }
      if (ids.size() == length) close_chunk();
      const int e = embeddings.empty() ? -1 : find_embedding_at(tokens, position, embeddings);
      if (e < 0) {
        ids.push_back(token);
        mults.push_back(part.weight);
        ++position;
        continue;
      }
      const auto vectors = static_cast<size_t>(embeddings[static_cast<size_t>(e)].vectors);
      if (ids.size() + vectors > length) close_chunk();
      uses.push_back({static_cast<int>(ids.size()), e});
      ids.insert(ids.end(), vectors, 0);
      mults.insert(mults.end(), vectors, part.weight);
      position += embeddings[static_cast<size_t>(e)].name_ids.size();
    }
  }
  if (!ids.empty() || chunks.empty()) close_chunk();
  return chunks;
}

}  // namespace i2i
