// fuzz_hf_listing: parse_hf_repo_listing (io/hf_listing.h) - the hub API's repository listing, read from the
// network by `i2i pull` - on the fuzzer's bytes, then the file choice made from it (select_repo_files) with
// and without globs and a variant; every path it keeps must be safe to place under a snapshot folder.
#include "io/hf_listing.h"

#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  i2i::fuzz::expect_only_errors([&] {
    const i2i::HfRepoListing l = i2i::parse_hf_repo_listing(text, "fuzz listing");
    i2i::fuzz::fuzz_check(l.commit.size() == 40, "a listing has a 40-digit commit");
    for (const auto& files : {i2i::select_repo_files(l.files, {}, {}, ""),
                              i2i::select_repo_files(l.files, {}, {"*.bin", "text_encoder/"}, "fp16"),
                              i2i::select_repo_files(l.files, {"unet/*", "*.json"}, {}, "")})
      for (const i2i::HfRepoFile& f : files) {
        i2i::fuzz::fuzz_check(i2i::is_safe_repo_path(f.path), "a kept path is safe");
        i2i::fuzz::fuzz_check(i2i::hf_max_file_bytes(f.path) > 0, "a size bound");
      }
  });
  return 0;
}
