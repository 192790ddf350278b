// Where tensor storage comes from. Small buffers come from malloc; large ones (activations of the UNet and
// the VAE, prepared weights) from an arena of mapped blocks:
// - a freed block is kept and handed out again for the next buffer of the same (page-rounded) size, so the
//   same-shaped activations of every UNet step and VAE block reuse memory that is already faulted in,
//   instead of glibc mapping, zero-filling and unmapping it on every allocation;
// - the arena never holds more than the highest amount in use since the last release: on a miss it first
//   unmaps cached blocks until the new block fits under that mark, so caching does not raise the peak
//   resident memory a run would have had without it;
// - blocks are 2 MiB aligned and advised for transparent huge pages (where the kernel offers them on
//   request), cutting page faults and TLB misses on large buffers;
// - arena_release() unmaps every cached block and resets the mark; pipelines call it (through
//   release_free_memory) between phases whose activation sizes differ (VAE encode, UNet steps, VAE decode).
#pragma once

#include <cstddef>
#include <cstdint>

namespace i2i {

// Buffers of at least this many bytes come from the arena.
constexpr size_t kArenaMinBytes = size_t{1} << 20;

// 64-byte aligned storage of `bytes` (> 0); nullptr when the system has no memory left.
void* arena_alloc(size_t bytes);
// Gives back a buffer from arena_alloc with the same `bytes`.
void arena_free(void* p, size_t bytes);
// Unmaps all cached (free) blocks and resets the high-water mark to what is in use now.
void arena_release();

struct ArenaStats {
  size_t in_use_bytes = 0;      // arena blocks handed out and not yet freed
  size_t cached_bytes = 0;      // free blocks kept for reuse
  size_t high_water_bytes = 0;  // highest in_use_bytes since the last release
  uint64_t hits = 0;            // allocations served from the cache
  uint64_t misses = 0;          // allocations that mapped a new block
};
ArenaStats arena_stats();

}  // namespace i2i
