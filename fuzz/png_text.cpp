// fuzz_png_text: read_png_text (io/image.h), what --from-png reads, on the fuzzer's bytes as a file, and the
// `parameters` chunk it finds through parse_parameters, as the CLI does.
#include <cstddef>
#include <cstdint>

#include "fuzz_support.h"
#include "io/image.h"
#include "io/parameters.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static i2i::fuzz::MemoryFile file;
  const std::string& path = file.write(data, size);
  i2i::fuzz::expect_only_errors([&] {
    const auto text = i2i::read_png_text(path);
    if (auto it = text.find("parameters"); it != text.end()) i2i::parse_parameters(it->second);
  });
  return 0;
}
