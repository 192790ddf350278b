// AUTOMATIC1111's prompt emphasis syntax: `(word)` x1.1, `[word]` /1.1, `(word:1.3)` an explicit weight,
// `\(` for literal brackets, and `BREAK` to start a new 75-token chunk.
#pragma once

#include <string>
#include <vector>

namespace i2i {

struct WeightedText {
  std::string text;
  float weight = 1.0f;
  bool is_break = false;  // a BREAK marker (text "BREAK")
};

// Splits `prompt` into runs of equal weight, as A1111's parse_prompt_attention does (unclosed brackets
// apply to the rest of the prompt; adjacent runs of equal weight are merged). With `emphasis` off the
// whole prompt is one run of weight 1 (BREAK is still honoured).
std::vector<WeightedText> parse_prompt_weights(const std::string& prompt, bool emphasis = true);

}  // namespace i2i
