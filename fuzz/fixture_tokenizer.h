// The CLIP tokenizer the tokenizer and prompt harnesses encode with: the fixtures' tiny-sd15 tokenizer
// folder (the full CLIP-L vocabulary), or the folder named by $I2I_FUZZ_TOKENIZER_DIR. Loaded once per
// process, in both variants (SD 1.x, and SD 2.x / SDXL's tokenizer_2 where '!' is the pad token).
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>

#include "text/tokenizer.h"

namespace i2i::fuzz {

inline const ClipTokenizer& fixture_tokenizer(bool bang_is_special) {
  static const std::string dir = [] {
    const char* env = std::getenv("I2I_FUZZ_TOKENIZER_DIR");
    return std::string(env && *env ? env : I2I_FUZZ_TOKENIZER_DIR);
  }();
  auto load = [](bool bang) {
    try {
      return ClipTokenizer::load(dir, ClipTokenizerOptions{bang});
    } catch (const std::exception& e) {
      std::fprintf(stderr, "cannot load the tokenizer (set I2I_FUZZ_TOKENIZER_DIR): %s\n", e.what());
      std::exit(2);
    }
  };
  static const ClipTokenizer plain = load(false);
  static const ClipTokenizer bang = load(true);
  return bang_is_special ? bang : plain;
}

}  // namespace i2i::fuzz
