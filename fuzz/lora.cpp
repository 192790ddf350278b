// fuzz_lora: read_lora_file (models/lora_file.h) on the fuzzer's bytes as a file, as --lora and
// <lora:NAME:W> read a downloaded LoRA: every module it accepts is a rank-r update (down [r, in(, kh, kw)],
// up [out, r(, 1, 1)]) with a finite scale.
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "fuzz_support.h"
#include "models/lora_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static i2i::fuzz::MemoryFile file;
  const std::string& path = file.write(data, size);
  i2i::fuzz::expect_only_errors([&] {
    const i2i::LoraFile f = i2i::read_lora_file(path);
    for (const i2i::LoraModule& m : f.modules) {
      i2i::fuzz::fuzz_check(m.rank() > 0 && m.up.dim(1) == m.rank(), "a module is a rank-r update");
      i2i::fuzz::fuzz_check(std::isfinite(m.scale()), "a module's scale is finite");
    }
  });
  return 0;
}
