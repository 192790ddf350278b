#include "core/tensor_arena.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <list>
#include <mutex>

namespace i2i {
namespace {

constexpr size_t kPage = 4096;
constexpr size_t kHugePage = size_t{2} << 20;

struct Block {
  void* p;
  size_t size;
};

struct Arena {
  std::mutex mu;
  std::list<Block> cache;  // free blocks, most recently freed first
  ArenaStats stats;
};

Arena& arena() {
  static Arena* a = new Arena;  // never destroyed: tensors may be freed during static destruction
  return *a;
}

size_t block_size(size_t bytes) {
  return (bytes + kPage - 1) / kPage * kPage;
}

void* map_block(size_t size) {
  if (size < kHugePage) {
    void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? nullptr : p;
  }
  // Over-map by one huge page, then trim so the block starts on a 2 MiB boundary (huge pages need it).
  void* raw = mmap(nullptr, size + kHugePage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) return nullptr;
  const uintptr_t begin = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t aligned = (begin + kHugePage - 1) / kHugePage * kHugePage;
  if (aligned > begin) munmap(raw, aligned - begin);
  const uintptr_t tail = aligned + size;
  const uintptr_t end = begin + size + kHugePage;
  if (end > tail) munmap(reinterpret_cast<void*>(tail), end - tail);
  void* p = reinterpret_cast<void*>(aligned);
#ifdef MADV_HUGEPAGE
  madvise(p, size, MADV_HUGEPAGE);  // advice only: without transparent huge pages this changes nothing
#endif
  return p;
}

// Unmaps the least recently freed cached blocks until at most `keep` bytes stay cached. Caller holds mu.
void evict_to(Arena& a, size_t keep) {
  while (a.stats.cached_bytes > keep && !a.cache.empty()) {
    const Block b = a.cache.back();
    a.cache.pop_back();
    munmap(b.p, b.size);
    a.stats.cached_bytes -= b.size;
  }
}

}  // namespace

void* arena_alloc(size_t bytes) {
  const size_t size = block_size(std::max<size_t>(bytes, 1));
  Arena& a = arena();
  std::lock_guard<std::mutex> lock(a.mu);
  for (auto it = a.cache.begin(); it != a.cache.end(); ++it) {
    if (it->size != size) continue;
    void* p = it->p;
    a.cache.erase(it);
    a.stats.cached_bytes -= size;
    a.stats.in_use_bytes += size;
    ++a.stats.hits;
    return p;
  }
  // Miss: keep in use + cached within the high-water mark this allocation sets.
  a.stats.high_water_bytes = std::max(a.stats.high_water_bytes, a.stats.in_use_bytes + size);
  evict_to(a, a.stats.high_water_bytes - a.stats.in_use_bytes - size);
  void* p = map_block(size);
  if (!p) {
    evict_to(a, 0);
    p = map_block(size);
    if (!p) return nullptr;
  }
  a.stats.in_use_bytes += size;
  ++a.stats.misses;
  return p;
}

void arena_free(void* p, size_t bytes) {
  if (!p) return;
  const size_t size = block_size(std::max<size_t>(bytes, 1));
  Arena& a = arena();
  std::lock_guard<std::mutex> lock(a.mu);
  a.stats.in_use_bytes -= size;
  a.cache.push_front({p, size});
  a.stats.cached_bytes += size;
}

void arena_release() {
  Arena& a = arena();
  std::lock_guard<std::mutex> lock(a.mu);
  evict_to(a, 0);
  a.stats.high_water_bytes = a.stats.in_use_bytes;
}

ArenaStats arena_stats() {
  Arena& a = arena();
  std::lock_guard<std::mutex> lock(a.mu);
  return a.stats;
}

}  // namespace i2i
