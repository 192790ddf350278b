// Loads a checkpoint as `i2i img2img` does and runs one UNet forward at a 64x64 latent, printing the load
// time with its phase breakdown (core/phase_timer.h), the forward time and the peak RSS after each phase.
// With LOADS > 1 the model is loaded again that many times (the previous one freed first, as a server's model
// switch does), each load timed.
//   build/bench/model_load_bench MODEL TOKENIZER_DIR [fp32|bf16|auto] [LOADS]
#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "core/error.h"
#include "core/phase_timer.h"
#include "pipelines/sd_model.h"

namespace {

double peak_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

double cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s MODEL TOKENIZER_DIR [fp32|bf16|auto] [LOADS]\n", argv[0]);
    return 2;
  }
  try {
    i2i::SdModelOptions o;
    o.tokenizer = argv[2];
    o.precision = i2i::parse_precision(argc > 3 ? argv[3] : "auto");
    const int loads = argc > 4 ? std::max(1, std::atoi(argv[4])) : 1;
    i2i::phase_timer::enable(true);
    i2i::SdModel m;
    for (int l = 0; l < loads; ++l) {
      m = i2i::SdModel();  // the previous model freed first
      i2i::phase_timer::reset();
      const double c0 = cpu_seconds();
      auto t0 = std::chrono::steady_clock::now();
      m = i2i::load_sd_model(argv[1], o);
      double load = seconds_since(t0);
      std::printf("load %d: %.2f s (cpu %.2f s), precision %s, peak RSS %.0f MB\n%s", l + 1, load,
                  cpu_seconds() - c0, m.precision == i2i::Precision::BF16 ? "bf16" : "fp32", peak_rss_mb(),
                  i2i::phase_timer::format(i2i::phase_timer::snapshot(), "  ").c_str());
    }
    i2i::phase_timer::reset();
    i2i::Tensor x = i2i::Tensor::zeros({1, 64, 64, 4});
    i2i::Tensor ctx = i2i::Tensor::zeros({1, 77, m.unet.config().cross_attention_dim});
    for (int run = 0; run < 2; ++run) {
      auto t1 = std::chrono::steady_clock::now();
      i2i::Tensor y = m.unet.forward(x, {500.0f}, ctx);
      std::printf("unet forward 1x64x64 (%s): %.2f s, peak RSS %.0f MB\n%s", run ? "second" : "first",
                  seconds_since(t1), peak_rss_mb(),
                  i2i::phase_timer::format(i2i::phase_timer::snapshot(), "  ").c_str());
      i2i::phase_timer::reset();
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
