// AMX tile configuration shared by the kernels that use tiles (attention.cpp, low_rank.cpp; internal).
// Callers run only where cpu_has_amx_bf16() (kernel_choice.h) is true, and release the tiles
// (_tile_release) after their last tile instruction.
#pragma once

#include <immintrin.h>

#include <cstdint>

namespace i2i::cpu {

// Palette 1 with tiles 0-7 all 16 rows x 64 bytes (16 x 16 float32, or 16 x 32 bf16), loaded on the
// calling thread. Not _tile_loadconfig: GCC 12's asm names only the first 8 bytes of the configuration as
// its input, which lets the compiler drop the stores of the rest.
__attribute__((target("amx-tile"))) inline void configure_tiles_16x64() {
  struct alignas(64) TileConfig {
    uint8_t palette = 1, start_row = 0, reserved[14] = {};
    uint16_t colsb[16] = {};
    uint8_t rows[16] = {};
  } cfg;
  for (int t = 0; t < 8; ++t) {
    cfg.colsb[t] = 64;
    cfg.rows[t] = 16;
  }
  __asm__ volatile("ldtilecfg %0" ::"m"(cfg));
}

}  // namespace i2i::cpu
