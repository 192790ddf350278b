// Micro-benchmarks of the heavy kernels at Stable Diffusion 1.5 shapes, with the machine's measured GEMM
// peak (a oneDNN matmul 4096^3) for reference. Each reports achieved GFLOP/s as a user counter.
// Run: build/bench/kernels_bench --benchmark_counters_tabular=true   (OMP_NUM_THREADS to pin threads)
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <dnnl.hpp>
#include <random>
#include <vector>

#include "kernels/conv2d.h"
#include "kernels/linear.h"
#include "kernels/ops.h"

namespace {

using namespace i2i;

Tensor random_tensor(Shape shape, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  Tensor t = Tensor::empty(std::move(shape));
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = dist(rng);
  return t;
}

void set_flops(benchmark::State& state, double flops_per_iter) {
  state.counters["GFLOP/s"] =
      benchmark::Counter(flops_per_iter * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

// With --benchmark_repetitions, also report the best repetition ("max" of GFLOP/s, "min" of time): on a
// shared machine the best run is the closest to what the kernel does on its own.
double max_of(const std::vector<double>& v) {
  return v.empty() ? 0.0 : *std::max_element(v.begin(), v.end());
}
double min_of(const std::vector<double>& v) {
  return v.empty() ? 0.0 : *std::min_element(v.begin(), v.end());
}

Precision precision_arg(benchmark::State& state, int index) {
  Precision p = state.range(index) ? Precision::BF16 : Precision::F32;
  state.SetLabel(p == Precision::BF16 ? "bf16" : "fp32");
  return p;
}

// Reference peak: oneDNN matmul 4096 x 4096 x 4096 in fp32 or bf16 (bf16 inputs, fp32 output).
void BM_GemmPeak(benchmark::State& state) {
  using dnnl::memory;
  const int64_t n = 4096;
  const bool bf16 = state.range(0) != 0;
  state.SetLabel(bf16 ? "bf16" : "fp32");
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(eng);
  auto in_dt = bf16 ? memory::data_type::bf16 : memory::data_type::f32;
  memory::desc a_md({n, n}, in_dt, memory::format_tag::ab);
  memory::desc b_md({n, n}, in_dt, memory::format_tag::any);
  memory::desc c_md({n, n}, memory::data_type::f32, memory::format_tag::ab);
  dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a_md, b_md, c_md), eng);
  memory a(a_md, eng), b(pd.weights_desc(), eng), c(c_md, eng);
  // Fill with small values (zeros would be fine for timing, but keep the data realistic).
  std::vector<float> host(static_cast<size_t>(n * n), 0.25f);
  memory host_a({{n, n}, memory::data_type::f32, memory::format_tag::ab}, eng, host.data());
  dnnl::reorder(host_a, a).execute(stream, host_a, a);
  dnnl::reorder(host_a, b).execute(stream, host_a, b);
  stream.wait();
  dnnl::matmul prim(pd);
  state.SetLabel(std::string(bf16 ? "bf16 " : "fp32 ") + pd.impl_info_str());
  for (auto _ : state) {
    prim.execute(stream, {{DNNL_ARG_SRC, a}, {DNNL_ARG_WEIGHTS, b}, {DNNL_ARG_DST, c}});
    stream.wait();
  }
  set_flops(state, 2.0 * n * n * n);
}
BENCHMARK(BM_GemmPeak)
    ->Arg(0)
    ->Arg(1)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->ComputeStatistics("max", max_of)
    ->ComputeStatistics("min", min_of);

// 3x3 convolution 320 -> 320 at 64x64, padding 1, NHWC (SD 1.5 UNet, first level).
void BM_Conv3x3_320(benchmark::State& state) {
  const int64_t batch = state.range(0);
  Precision p = precision_arg(state, 1);
  Conv2d conv(random_tensor({320, 320, 3, 3}, 1), random_tensor({320}, 2), 1, 1, p);
  Tensor x = random_tensor({batch, 64, 64, 320}, 3);
  conv(x);  // create the primitive outside the timing
  for (auto _ : state) benchmark::DoNotOptimize(conv(x));
  set_flops(state, 2.0 * batch * 64 * 64 * 320 * 320 * 9);
}
BENCHMARK(BM_Conv3x3_320)
    ->ArgsProduct({{1, 2}, {0, 1}})
    ->ArgNames({"batch", "bf16"})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->ComputeStatistics("max", max_of)
    ->ComputeStatistics("min", min_of);

// Linear M=4096 K=320 N=1280 (a transformer feed-forward projection at 64x64 latents).
void BM_Linear(benchmark::State& state) {
  Precision p = precision_arg(state, 0);
  const int64_t m = 4096, k = 320, n = 1280;
  Linear lin(random_tensor({n, k}, 4), random_tensor({n}, 5), p);
  Tensor x = random_tensor({m, k}, 6);
  lin(x);
  for (auto _ : state) benchmark::DoNotOptimize(lin(x));
  set_flops(state, 2.0 * m * n * k);
}
BENCHMARK(BM_Linear)
    ->Arg(0)
    ->Arg(1)
    ->ArgName("bf16")
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->ComputeStatistics("max", max_of)
    ->ComputeStatistics("min", min_of);

// One attention of `heads` heads, tq queries, tk keys, head dim d, in fp32 or bf16 (Q, K, V and P rounded to
// bf16, fp32 softmax and accumulation).
void run_attention(benchmark::State& state, int64_t tq, int64_t tk, int64_t heads, int64_t d, bool bf16) {
  const Precision precision = bf16 ? Precision::BF16 : Precision::F32;
  Tensor q = random_tensor({1, tq, heads * d}, 7), k = random_tensor({1, tk, heads * d}, 8),
         v = random_tensor({1, tk, heads * d}, 9);
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));
  state.SetLabel(bf16 ? "bf16" : "fp32");
  for (auto _ : state)
    benchmark::DoNotOptimize(ops::attention(q, k, v, static_cast<int>(heads), scale, false, precision));
  set_flops(state, 4.0 * heads * tq * tk * d);  // Q K^T and P V
}

// The SD 1.5 UNet's first level: 8 heads, Tq = 4096, head dim 40; self-attention (Tk = 4096) and
// cross-attention (Tk = 77).
void BM_Attention(benchmark::State& state) {
  run_attention(state, 4096, state.range(0), 8, 40, state.range(1) != 0);
}
BENCHMARK(BM_Attention)
    ->ArgsProduct({{4096, 77}, {0, 1}})
    ->ArgNames({"tk", "bf16"})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->ComputeStatistics("max", max_of)
    ->ComputeStatistics("min", min_of);

// Depth Anything V2 ViT-L's self-attention (annotate_depth): 16 heads, 1370 tokens (37 x 37 patches + the
// class token), head dim 64, one picture.
void BM_AttentionVitL(benchmark::State& state) {
  run_attention(state, 1370, 1370, 16, 64, state.range(0) != 0);
}
BENCHMARK(BM_AttentionVitL)
    ->Arg(0)
    ->Arg(1)
    ->ArgName("bf16")
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->ComputeStatistics("max", max_of)
    ->ComputeStatistics("min", min_of);

// Group norm (32 groups) + SiLU writing bf16 (what a bf16 VAE decoder convolution reads) at the decoder's
// two largest shapes, 512x512x128 and 256x256x256; GB/s counts one float32 read and one bf16 write.
void BM_GroupNormSiLU(benchmark::State& state) {
  const int64_t hw = state.range(0), c = state.range(1);
  Tensor x = random_tensor({1, hw, hw, c}, 10), g = random_tensor({c}, 11), b = random_tensor({c}, 12);
  for (auto _ : state) benchmark::DoNotOptimize(ops::group_norm(x, 32, g, b, 1e-6f, true, DType::BF16));
  state.counters["GB/s"] = benchmark::Counter(
      static_cast<double>(x.numel()) * 6.0 * 1e-9 * static_cast<double>(state.iterations()),
      benchmark::Counter::kIsRate);
}
BENCHMARK(BM_GroupNormSiLU)
    ->Args({512, 128})
    ->Args({256, 256})
    ->ArgNames({"hw", "c"})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->ComputeStatistics("max", max_of)
    ->ComputeStatistics("min", min_of);

}  // namespace

BENCHMARK_MAIN();
