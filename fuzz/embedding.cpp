// fuzz_embedding: read_embedding_file (models/embedding_file.h) on the fuzzer's bytes as a file, as a
// prompt naming an embedding reads it, then the width check against SD 1.x- and SDXL-like encoders: what it
// accepts has at least one vector per table and equal counts in an SDXL file's two tables.
#include <cstddef>
#include <cstdint>

#include "fuzz_support.h"
#include "models/embedding_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static i2i::fuzz::MemoryFile file;
  const std::string& path = file.write(data, size);
  i2i::fuzz::expect_only_errors([&] {
    const i2i::TextualInversion e = i2i::read_embedding_file(path);
    i2i::fuzz::fuzz_check(e.vectors >= 1, "an embedding has vectors");
    if (e.sdxl())
      i2i::fuzz::fuzz_check(e.clip_l.dim(0) == e.vectors && e.clip_g.dim(0) == e.vectors,
                            "SDXL tables have the same number of vectors");
    i2i::fuzz::expect_only_errors([&] { i2i::check_embedding_fits(e, {16}); });
    i2i::fuzz::expect_only_errors([&] { i2i::check_embedding_fits(e, {16, 24}); });
  });
  return 0;
}
