#include "kernels/precision.h"

namespace i2i {

bool cpu_has_bf16() {
  static const bool has = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512bf16") != 0;
  }();
  return has;
}

}  // namespace i2i
