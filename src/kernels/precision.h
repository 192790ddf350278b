// Compute precision of the heavy operations (matmul, convolution). Accumulation is always float32.
#pragma once

namespace i2i {

enum class Precision { F32, BF16 };

// True when the CPU has native bf16 dot products (AVX512_BF16 / AMX), detected at run time.
bool cpu_has_bf16();

}  // namespace i2i
