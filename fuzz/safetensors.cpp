// fuzz_safetensors: SafeTensors::open (io/safetensors.h) on the fuzzer's bytes as a file, then every tensor
// read as the loaders read it (get, get_f32) and the renamed view the checkpoint layouts use.
#include "io/safetensors.h"

#include <cstddef>
#include <cstdint>

#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static i2i::fuzz::MemoryFile file;
  const std::string& path = file.write(data, size);
  i2i::fuzz::expect_only_errors([&] {
    const i2i::SafeTensors st = i2i::SafeTensors::open(path);
    for (const std::string& name : st.names()) {
      const i2i::TensorInfo& info = st.info(name);
      i2i::fuzz::fuzz_check(info.begin <= info.end && info.end <= size, "tensor data inside the file");
      i2i::fuzz::expect_only_errors([&] {
        const i2i::Tensor t = st.get(name);
        i2i::fuzz::fuzz_check(t.nbytes() == info.end - info.begin, "tensor bytes match its data offsets");
      });
      i2i::fuzz::expect_only_errors([&] { st.get_f32(name); });
    }
    st.renamed([](const std::string& name) { return "x." + name; });
  });
  return 0;
}
