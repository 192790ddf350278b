// Process memory helpers: the allocator settings a diffusion run wants, what the system can still give,
// and handing freed heap pages back.
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

// Debugging aid: with the environment variable I2I_DEBUG_MEMORY set (to anything but "" or "0"), writes one
// line to stderr: `[memory] PHASE: rss X MB (anon A, file F), peak Y MB` from /proc/self/status (VmRSS,
// RssAnon, RssFile, VmHWM; decimal MB), so a run shows which phase raised its peak. Does nothing otherwise
// (one getenv).
void log_memory(const char* phase);

// Tunes glibc's malloc for diffusion workloads, once per process (thread-safe; later calls do nothing). A run
// allocates and frees the same large activation tensors every step; glibc's mmap threshold starts at
// 128 KiB (rising only as mapped blocks are freed), so many UNet-sized tensors would come from fresh mmaps:
// page faults and kernel page zeroing on every call (~20 % of the profile). init_runtime fixes the threshold
// at its maximum (mallopt M_MMAP_THRESHOLD = 32 MiB) and trims only large free tops (M_TRIM_THRESHOLD =
// 256 MiB), keeping such buffers in the heap for reuse; the pipelines hand free heap pages back between
// phases (release_free_memory), and larger blocks still come and go as mmaps, so the peak stays put.
// load_sd_model, i2i_model_load and run_bench call it; a program embedding the library may call it
// earlier. Opt-out: set the environment variable I2I_NO_MALLOPT to anything but "" or "0" (e.g. a host
// that tunes malloc itself); malloc's settings are then left alone. Settings are process-wide.
void init_runtime();
// Whether init_runtime has applied the malloc settings (false before it runs, when opted out, and where
// the C library is not glibc).
bool runtime_malloc_tuned();
// Whether an I2I_NO_MALLOPT value (nullptr when unset) opts out of the malloc settings. For tests.
bool malloc_tuning_opted_out(const char* env_value);

}  // namespace i2i
