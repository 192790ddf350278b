// Process memory helpers: what the system can still give, and handing freed heap pages back.
#pragma once

#include <cstdint>
#include <string>

namespace i2i {

// MemAvailable from /proc/meminfo in bytes; -1 when unknown (no /proc, unparsable).
int64_t available_memory_bytes();
// Parses the MemAvailable line of a /proc/meminfo text (bytes; -1 when absent). For tests.
int64_t parse_mem_available(const std::string& meminfo);

// Returns free heap pages to the system (the tensor arena's cached blocks, arena_release, and glibc's
// malloc_trim). Pipelines call it between
// phases with very different activation sizes (VAE encode, UNet steps, VAE decode), so the holes one phase
// leaves in the heap do not add to the next phase's peak.
void release_free_memory();

}  // namespace i2i
