// fuzz_parameters: parse_parameters (io/parameters.h) on the fuzzer's bytes as text, and the round trip
// i2i relies on when it writes a PNG and reads it back: a parsed text with a parameter line (3 or more
// pairs) formats without error and parses back to the same prompt, negative prompt and pairs.
#include "io/parameters.h"

#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  i2i::GenerationParameters p;
  try {
    p = i2i::parse_parameters(text);
  } catch (const i2i::Error&) {
    return 0;  // invalid UTF-8 or too long
  }
  if (p.params.size() < 3) return 0;  // the last line was prompt text: no parameter line to round-trip
  std::string formatted;
  try {
    formatted = i2i::format_parameters(p);
  } catch (const i2i::Error& e) {
    std::fprintf(stderr, "format_parameters: %s\n", e.what());
    i2i::fuzz::fuzz_check(false, "a parsed text formats");
  }
  const i2i::GenerationParameters q = i2i::parse_parameters(formatted);
  i2i::fuzz::fuzz_check(q.params == p.params, "pairs read back unchanged");
  i2i::fuzz::fuzz_check(q.prompt == p.prompt, "prompt reads back unchanged");
  i2i::fuzz::fuzz_check(q.negative_prompt == p.negative_prompt, "negative prompt reads back unchanged");
  return 0;
}
