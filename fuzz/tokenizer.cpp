// fuzz_tokenizer: ClipTokenizer::encode (text/tokenizer.h) of the fuzzer's bytes as a prompt, with both
// variants of the fixtures' CLIP vocabulary, and fit_to_length as the pipelines apply it.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fixture_tokenizer.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  for (bool bang : {false, true}) {
    const i2i::ClipTokenizer& tok = i2i::fuzz::fixture_tokenizer(bang);
    i2i::fuzz::expect_only_errors([&] {
      const std::vector<int> ids = tok.encode(text);
      i2i::fuzz::fuzz_check(ids.size() >= 2 && ids.front() == tok.bos_id() && ids.back() == tok.eos_id(),
                            "encode frames the tokens with bos and eos");
      for (int id : ids)
        i2i::fuzz::fuzz_check(id >= 0 && static_cast<size_t>(id) < tok.vocab_size(),
                              "ids are in the vocabulary");
      const std::vector<int> fitted =
          i2i::fit_to_length(ids, i2i::ClipTokenizer::kContextLength, tok.pad_id());
      i2i::fuzz::fuzz_check(fitted.size() == i2i::ClipTokenizer::kContextLength,
                            "fit_to_length gives 77 ids");
    });
  }
  return 0;
}
