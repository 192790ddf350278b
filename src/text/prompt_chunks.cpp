#include "text/prompt_chunks.h"

namespace i2i {

std::vector<PromptChunk> build_prompt_chunks(
    const std::vector<WeightedText>& parsed,
    const std::function<std::vector<int>(const std::string&)>& tokenize, const ChunkSpec& spec) {
  std::vector<PromptChunk> chunks;
  std::vector<int> ids;
  std::vector<float> mults;
  int last_comma = -1;
  const size_t length = static_cast<size_t>(spec.chunk_length);

  auto close_chunk = [&]() {
    PromptChunk c;
    c.ids.push_back(spec.bos);
    c.multipliers.push_back(1.0f);
    c.ids.insert(c.ids.end(), ids.begin(), ids.end());
    c.multipliers.insert(c.multipliers.end(), mults.begin(), mults.end());
    c.ids.push_back(spec.eos);
    c.multipliers.push_back(1.0f);
    c.ids.resize(length + 2, spec.pad);
    c.multipliers.resize(length + 2, 1.0f);
    chunks.push_back(std::move(c));
    ids.clear();
    mults.clear();
    last_comma = -1;
  };

  for (const auto& part : parsed) {
    if (part.is_break) {
      close_chunk();
      continue;
    }
    std::vector<int> tokens = tokenize(part.text);
    for (int token : tokens) {
      if (token == spec.comma) {
        last_comma = static_cast<int>(ids.size());
      } else if (spec.comma_backtrack > 0 && ids.size() == length && last_comma != -1 &&
                 static_cast<int>(ids.size()) - last_comma <= spec.comma_backtrack) {
        // Move the words after the last comma into the next chunk.
        size_t cut = static_cast<size_t>(last_comma) + 1;
        std::vector<int> moved_ids(ids.begin() + static_cast<long>(cut), ids.end());
        std::vector<float> moved_mults(mults.begin() + static_cast<long>(cut), mults.end());
        ids.resize(cut);
        mults.resize(cut);
        close_chunk();
        ids = std::move(moved_ids);
        mults = std::move(moved_mults);
      }
      if (ids.size() == length) close_chunk();
      ids.push_back(token);
      mults.push_back(part.weight);
    }
  }
  if (!ids.empty() || chunks.empty()) close_chunk();
  return chunks;
}

}  // namespace i2i
