// fuzz_ldm_yaml: read_ldm_yaml (models/checkpoint.h, models/ldm_yaml.cpp), the reader of the `.yaml` sidecar
// found beside a checkpoint, on the fuzzer's bytes as a file.
#include <cstddef>
#include <cstdint>

#include "fuzz_support.h"
#include "models/checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static i2i::fuzz::MemoryFile file;
  const std::string& path = file.write(data, size);
  i2i::fuzz::expect_only_errors([&] {
    const nlohmann::json out = i2i::read_ldm_yaml(path);
    i2i::fuzz::fuzz_check(out.is_object(), "the result is an object");
  });
  return 0;
}
