// The tensor arena: large tensor buffers are reused by size, the cache stays under the high-water mark of
// memory in use, and release empties it.
#include "core/tensor_arena.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>

#include "core/memory.h"
#include "core/tensor.h"

namespace i2i {
namespace {

constexpr int64_t kMiB = 1 << 20;

class TensorArena : public ::testing::Test {
 protected:
  void SetUp() override { arena_release(); }
  void TearDown() override { arena_release(); }
};

TEST_F(TensorArena, FreedBlockIsReusedForTheSameSize) {
  const void* first = nullptr;
  {
    Tensor a = Tensor::empty({4 * kMiB / 4});
    first = a.raw();
    std::memset(a.raw(), 1, a.nbytes());
  }
  const ArenaStats before = arena_stats();
  EXPECT_EQ(before.cached_bytes, static_cast<size_t>(4 * kMiB));
  Tensor b = Tensor::empty({kMiB}, DType::F32);  // the same byte count, another shape
  EXPECT_EQ(b.raw(), first);
  const ArenaStats after = arena_stats();
  EXPECT_EQ(after.hits, before.hits + 1);
  EXPECT_EQ(after.misses, before.misses);
  EXPECT_EQ(after.cached_bytes, 0u);
}

TEST_F(TensorArena, CacheNeverExceedsTheHighWaterMark) {
  {
    Tensor a = Tensor::empty({8 * kMiB}, DType::U8);
    Tensor b = Tensor::empty({8 * kMiB}, DType::U8);
  }
  ArenaStats s = arena_stats();
  EXPECT_EQ(s.high_water_bytes, static_cast<size_t>(16 * kMiB));
  EXPECT_EQ(s.cached_bytes, static_cast<size_t>(16 * kMiB));
  // A 4 MiB buffer matches no cached block: one 8 MiB block is unmapped so that in use + cached stays
  // within 16 MiB, the most ever in use at once; the other stays cached.
  Tensor c = Tensor::empty({4 * kMiB}, DType::U8);
  s = arena_stats();
  EXPECT_EQ(s.in_use_bytes, static_cast<size_t>(4 * kMiB));
  EXPECT_EQ(s.cached_bytes, static_cast<size_t>(8 * kMiB));
  EXPECT_EQ(s.high_water_bytes, static_cast<size_t>(16 * kMiB));
  // 4 + 8 + 12 would exceed the mark, 4 + 12 sets a new one (16 stays): the last cached block goes.
  Tensor d = Tensor::empty({12 * kMiB}, DType::U8);
  s = arena_stats();
  EXPECT_EQ(s.cached_bytes, 0u);
  EXPECT_EQ(s.high_water_bytes, static_cast<size_t>(16 * kMiB));
  // A larger buffer raises the mark.
  Tensor e = Tensor::empty({20 * kMiB}, DType::U8);
  EXPECT_EQ(arena_stats().high_water_bytes, static_cast<size_t>(36 * kMiB));
}

TEST_F(TensorArena, ReleaseUnmapsCachedBlocksAndResetsTheMark) {
  Tensor keep = Tensor::empty({2 * kMiB}, DType::U8);
  { Tensor t = Tensor::empty({6 * kMiB}, DType::U8); }
  EXPECT_EQ(arena_stats().cached_bytes, static_cast<size_t>(6 * kMiB));
  release_free_memory();
  const ArenaStats s = arena_stats();
  EXPECT_EQ(s.cached_bytes, 0u);
  EXPECT_EQ(s.in_use_bytes, static_cast<size_t>(2 * kMiB));
  EXPECT_EQ(s.high_water_bytes, static_cast<size_t>(2 * kMiB));
}

TEST_F(TensorArena, SmallTensorsComeFromMallocAndLargeOnesAreAligned) {
  const ArenaStats before = arena_stats();
  Tensor small = Tensor::empty({kArenaMinBytes / 4 - 1});
  EXPECT_EQ(arena_stats().in_use_bytes, before.in_use_bytes);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(small.raw()) % 64, 0u);
  Tensor mid = Tensor::empty({kArenaMinBytes / 4});
  EXPECT_EQ(reinterpret_cast<uintptr_t>(mid.raw()) % 4096, 0u);
  Tensor large = Tensor::empty({3 * kMiB}, DType::U8);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(large.raw()) % (2 * kMiB), 0u);  // huge-page aligned
  std::memset(large.raw(), 0xab, large.nbytes());
  EXPECT_EQ(static_cast<const uint8_t*>(large.raw())[3 * kMiB - 1], 0xab);
}

TEST_F(TensorArena, ZerosAreZeroEvenInAReusedBlock) {
  {
    Tensor a = Tensor::empty({kMiB});
    std::memset(a.raw(), 0xff, a.nbytes());
  }
  Tensor z = Tensor::zeros({kMiB});
  const float* p = z.data<float>();
  for (int64_t i = 0; i < z.numel(); i += 4099) ASSERT_EQ(p[i], 0.0f);
  EXPECT_EQ(p[z.numel() - 1], 0.0f);
}

}  // namespace
}  // namespace i2i
