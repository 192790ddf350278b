// Kernel choices made by timing, kept per machine (internal header). Where the CPU offers two bf16 attention
// kernels, the first call at each shape times both and keeps the faster (kernel_choice.h). Timings move with
// the machine's load, so two runs of the same command could choose differently and, the kernels rounding
// differently, give pictures a few levels apart for the same seed. The first choice is therefore written to
// the user's cache, and later runs on the same machine read it instead of timing again: the same kernels,
// the same bits.
//
// File: user_cache_dir()/kernel-choices.txt (core/user_cache.h), one choice a line,
// "<machine>\t<operation and shape>\t<kernel>", appended with one write (O_APPEND: a concurrent writer's
// line is never interleaved); the first valid line for a key wins. <machine> names the CPU (model,
// stepping, the features the choice depends on), so a cache carried to another CPU is not used there. Lines
// that do not parse, belong to another machine or name a kernel the key's candidate list lacks are ignored;
// only the first 1 MiB is read, and a file that large is not grown. Only a regular file is opened (not a
// FIFO, a device or a symbolic link). Any failure (no cache folder, read-only home) only means the choice is
// made again by the next run. The file holds the CPU's name and the attention shapes met (which tell the
// picture sizes used), nothing else.
#pragma once

#include <optional>
#include <string>

namespace i2i::cpu {

// The kernel stored for `what` (e.g. "attention tk 77 d 40 dv 40 candidates amx,avx512bf16": the key ends
// with the kernels it may name) on this machine, if any.
std::optional<std::string> cached_kernel_choice(const std::string& what);
// Stores `kernel` for `what` on this machine (no-op if a choice is already stored, `kernel` is not among
// `what`'s candidates, or the file cannot be written).
void store_kernel_choice(const std::string& what, const std::string& kernel);
// Drops this process's copy of the file (the next lookup reads it again, from the cache folder the
// environment names then). For tests.
void forget_kernel_choice_cache();

// This machine, as the file's first field: cpu_description() (kernels/cpu/cpu_features.h: model name,
// family / model / stepping and the bf16 / AMX flags).
std::string kernel_choice_machine();

}  // namespace i2i::cpu
