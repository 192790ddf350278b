// What this CPU is, in words (cpu_has_bf16 and the other feature checks are in kernels/precision.h and
// kernels/cpu/kernel_choice.h).
#pragma once

#include <string>

namespace i2i {

// /proc/cpuinfo's model name with family / model / stepping and the matrix / bf16 flags, e.g.
// "Intel(R) Xeon(R) Processor (family 6 model 143 stepping 8; avx512_bf16 amx_bf16)"; "unknown CPU (...)"
// without a model name.
std::string cpu_description();

}  // namespace i2i
