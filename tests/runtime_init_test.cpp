// The library tunes malloc itself (init_runtime, core/memory.h) when a model is loaded, so a program that
// embeds it gets the same allocator behaviour as the CLI. Its own test program: the settings are
// process-wide and applied once.
#include <gtest/gtest.h>
#include <malloc.h>

#include <cstdlib>

#include "core/memory.h"
#include "pipelines/sd_model.h"
#include "support/fixtures.h"

namespace i2i {
namespace {

TEST(RuntimeInit, OptOutVariable) {
  EXPECT_FALSE(malloc_tuning_opted_out(nullptr));
  EXPECT_FALSE(malloc_tuning_opted_out(""));
  EXPECT_FALSE(malloc_tuning_opted_out("0"));
  EXPECT_TRUE(malloc_tuning_opted_out("1"));
  EXPECT_TRUE(malloc_tuning_opted_out("yes"));
}

TEST(RuntimeInit, OptOutLeavesMallocAlone) {
  // In a child process, so that this process can still be tuned by the next test.
  EXPECT_EXIT(
      {
        ::setenv("I2I_NO_MALLOPT", "1", 1);
        init_runtime();
        std::exit(runtime_malloc_tuned() ? 1 : 0);
      },
      ::testing::ExitedWithCode(0), "");
}

// Whether a fresh malloc of `bytes` is served by its own mmap (glibc's mapped-block byte count grows).
bool malloc_is_mmapped(size_t bytes) {
  const size_t before = mallinfo2().hblkhd;
  void* volatile p = std::malloc(bytes);  // volatile: the compiler may not drop the malloc / free pair
  const size_t after = mallinfo2().hblkhd;
  std::free(p);
  return after > before;
}

TEST(RuntimeInit, LoadSdModelTunesMalloc) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "AddressSanitizer replaces malloc";
#endif
  ::unsetenv("I2I_NO_MALLOPT");
  // glibc's default threshold (128 KiB, raised only by freeing mapped blocks) maps 24 MiB on its own;
  // init_runtime fixes it at 32 MiB. (Probing before loading would raise the default threshold itself.)
  EXPECT_FALSE(runtime_malloc_tuned());
  load_sd_model(test::models_dir() / "tiny-sd15");
  EXPECT_TRUE(runtime_malloc_tuned());
  EXPECT_FALSE(malloc_is_mmapped(size_t{24} << 20));
  EXPECT_TRUE(malloc_is_mmapped(size_t{48} << 20));
  init_runtime();  // idempotent
  EXPECT_TRUE(runtime_malloc_tuned());
}

}  // namespace
}  // namespace i2i
