// fuzz_prompt: A1111's prompt syntax as encode_prompt (pipelines/prompt_embedding.cpp) reads it:
// parse_prompt_weights (text/prompt_parser.h) with emphasis on and off, then build_prompt_chunks
// (text/prompt_chunks.h) with the fixtures' CLIP tokenizer; every chunk must be 77 ids with 77 weights.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fixture_tokenizer.h"
#include "fuzz_support.h"
#include "text/prompt_chunks.h"
#include "text/prompt_parser.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string prompt(reinterpret_cast<const char*>(data), size);
  const i2i::ClipTokenizer& tok = i2i::fuzz::fixture_tokenizer(false);
  i2i::ChunkSpec spec;
  spec.bos = tok.bos_id();
  spec.eos = tok.eos_id();
  spec.pad = tok.pad_id();
  spec.comma = tok.id_of(",</w>");
  for (bool emphasis : {true, false}) {
    i2i::fuzz::expect_only_errors([&] {
      const std::vector<i2i::WeightedText> parsed = i2i::parse_prompt_weights(prompt, emphasis);
      i2i::fuzz::fuzz_check(!parsed.empty(), "a parsed prompt has at least one run");
      const std::vector<i2i::PromptChunk> chunks = i2i::build_prompt_chunks(
          parsed, [&](const std::string& s) { return tok.tokenize(s); }, spec);
      i2i::fuzz::fuzz_check(!chunks.empty(), "at least one chunk");
      for (const i2i::PromptChunk& c : chunks)
        i2i::fuzz::fuzz_check(c.ids.size() == 77 && c.multipliers.size() == 77,
                              "chunks of 77 ids and weights");
    });
  }
  return 0;
}
