// Which implementation runs an operation when the CPU offers several (internal header).
//
// Attention has four kernels (attention.cpp): `portable` (plain C++), `avx512` (AVX-512 float32),
// `avx512bf16` (AVX512_BF16 vdpbf16ps products) and `amx` (AMX bf16 tiles for Q K^T and P V; the softmax
// stays AVX-512 float32). A bf16 model's attention runs on a bf16 kernel where the CPU has one; where the
// CPU has both `amx` and `avx512bf16`, the first call at each attention shape times both on a slice of that
// call (one head, a few query blocks, all keys: a few milliseconds) and keeps the faster for the process and,
// in the user's cache, for later runs on the same machine (kernel_choice_cache.h: the same seed gives the
// same bits run after run).
// Linear and Conv2d run on oneDNN (`dnnl`), which picks its own ISA (AMX tiles where the CPU has them).
//
// I2I_KERNELS forces a choice, e.g. `I2I_KERNELS=attention:avx512bf16` or
// `I2I_KERNELS=attention:amx,linear:dnnl` (comma-separated `op:kernel`; ops `attention` and `lora` with
// portable / avx512 / avx512bf16 / amx, and `linear` with dnnl). A forced float32 kernel (portable, avx512)
// runs every attention; a forced bf16 kernel (avx512bf16, amx) runs the bf16 models' attention, float32
// models keep their float32 kernel. A bad value, or a kernel this CPU cannot run, is an i2i::Error naming
// I2I_KERNELS (never a fallback to other code).
#pragma once

#include <optional>
#include <string>

namespace i2i::cpu {

enum class AttentionKernel { Portable, Avx512, Avx512Bf16, Amx };
enum class LinearKernel { Dnnl };

const char* kernel_name(AttentionKernel k);

struct KernelOverrides {
  std::optional<AttentionKernel> attention;
  // LoRA merges (kernels/low_rank.h) have the same four kernels, by the same names: `lora:portable` /
  // `lora:avx512` force float32 products for every layer, `lora:avx512bf16` / `lora:amx` bf16 products
  // for bf16 layers (float32 layers keep float32 products).
  std::optional<AttentionKernel> lora;
  std::optional<LinearKernel> linear;
};

// Parses an I2I_KERNELS value (throws i2i::Error on a bad one). Does not check the CPU.
KernelOverrides parse_kernel_overrides(const std::string& value);

// The overrides of this process: I2I_KERNELS as read at the first call, or the ones set by
// set_kernel_overrides (tests). Throws i2i::Error if I2I_KERNELS is malformed.
const KernelOverrides& kernel_overrides();
// Testing aid: replaces the overrides (not thread-safe; call between operations) and forgets the kernels
// chosen by timing.
void set_kernel_overrides(const KernelOverrides& overrides);
void forget_timed_choices();  // attention.cpp

// AMX with bf16 tiles usable by this process: CPUID reports AMX-TILE and AMX-BF16, the OS enables the tile
// state (XCR0 bits 17 and 18) and Linux granted the permission to use it (arch_prctl
// ARCH_REQ_XCOMP_PERM, requested once here). Code using tiles runs only where this is true.
bool cpu_has_amx_bf16();

// Whether the CPU can run a kernel at all (AMX, AVX512_BF16 or AVX-512 present).
bool kernel_available(AttentionKernel k);

}  // namespace i2i::cpu
