// How long loading the CLIP tokenizer takes (vocab.json parsed, the 48,894 merges hashed): what every
// generation pays once. (This was a timed test, Tokenizer.LoadsQuickly, which failed on loaded machines;
// speed is measured here instead. About 50 ms on the development machine when it was written.)
//   build/bench/tokenizer_load_bench TOKENIZER_DIR [--benchmark_repetitions=N ...]
#include <benchmark/benchmark.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "text/tokenizer.h"

namespace {

std::filesystem::path g_dir;

void BM_TokenizerLoad(benchmark::State& state) {
  for (auto _ : state) {
    i2i::ClipTokenizer t = i2i::ClipTokenizer::load(g_dir);
    benchmark::DoNotOptimize(t.vocab_size());
  }
}
BENCHMARK(BM_TokenizerLoad)->Unit(benchmark::kMillisecond);

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s TOKENIZER_DIR [benchmark flags]\n", argv[0]);
    return 2;
  }
  g_dir = argv[1];
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
