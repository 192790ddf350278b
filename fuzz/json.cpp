// fuzz_json: read_config_json (io/config_file.h) - the reader of every diffusers config, sidecar and
// tokenizer config, through parse_python_json (io/python_json.h) - on the fuzzer's bytes as a file, then
// what the loaders do with the values: numbers (json_number), integers (config_int) and error excerpts.
#include <cstddef>
#include <cstdint>

#include "fuzz_support.h"
#include "io/config_file.h"
#include "io/python_json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static i2i::fuzz::MemoryFile file;
  const std::string& path = file.write(data, size);
  i2i::fuzz::expect_only_errors([&] {
    const nlohmann::json cfg = i2i::read_config_json(path);
    i2i::fuzz::fuzz_check(cfg.is_object(), "a config is an object");
    for (auto it = cfg.begin(); it != cfg.end(); ++it) {
      i2i::fuzz::expect_only_errors([&] { i2i::json_number(it.value(), it.key()); });
      i2i::fuzz::expect_only_errors([&] { i2i::config_int(cfg, it.key().c_str(), 0, "fuzz config"); });
      i2i::json_excerpt(it.value());
    }
    i2i::json_excerpt(cfg);
  });
  return 0;
}
