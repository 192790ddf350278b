// The benchmark's peak (tools/bench_peak.h): the chooser takes the best of every candidate's before and after
// measurements, stages are reported against that peak (over 100 % flagged), the stability rule, the
// representative shapes' FLOP counts, one real (untimed) measurement, and the oneDNN verbose summary
// (tools/bench_kernel_log.h). No timed assertions.
#include "tools/bench_peak.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "tools/bench.h"
#include "tools/bench_kernel_log.h"

namespace i2i::bench {
namespace {

PeakCandidate candidate(const std::string& name, double before, double after) {
  PeakCandidate c;
  c.name = name;
  c.impl = "impl-" + name;
  c.flops = 1e9;
  c.before = {1.0 / before, before, before > 0 ? 4 : 0};
  c.after = {after > 0 ? 1.0 / after : 0, after, after > 0 ? 5 : 0};
  return c;
}

TEST(BenchPeak, ChoosesTheMaximumOverCandidatesAndBothRounds) {
  const Peak p = choose_peak({candidate("matmul", 900, 950), candidate("conv-a", 1200, 1100),
                              candidate("conv-b", 1000, 1300), candidate("small", 300, 0)});
  EXPECT_DOUBLE_EQ(p.gflops, 1300);
  EXPECT_EQ(p.set_by, "conv-b");
  EXPECT_EQ(p.impl, "impl-conv-b");
  EXPECT_EQ(p.when, "after");
  EXPECT_DOUBLE_EQ(p.seconds, 1.0 / 1300);
  EXPECT_DOUBLE_EQ(p.before_gflops, 1200);
  EXPECT_DOUBLE_EQ(p.after_gflops, 1300);
  ASSERT_EQ(p.candidates.size(), 4u);
  EXPECT_EQ(p.candidates[3].name, "small");

  const Peak before = choose_peak({candidate("a", 500, 400), candidate("b", 700, 0)});
  EXPECT_DOUBLE_EQ(before.gflops, 700);
  EXPECT_EQ(before.set_by, "b");
  EXPECT_EQ(before.when, "before");
  EXPECT_DOUBLE_EQ(before.after_gflops, 400);  // b has no after measurement

  EXPECT_DOUBLE_EQ(choose_peak({}).gflops, 0);
}

TEST(BenchPeak, StagesAreReportedAgainstThePeakOfTheirPrecision) {
  BenchReport r;
  r.stages["unet_cfg_step"]["bf16"].gflops = 650;
  r.stages["vae_decode"]["bf16"].gflops = 1430;  // faster than the chosen peak: the peak is wrong
  r.stages["vae_decode"]["fp32"].gflops = 200;
  apply_peak(r, "bf16", choose_peak({candidate("m", 1000, 1300)}));
  EXPECT_DOUBLE_EQ(r.stages["unet_cfg_step"]["bf16"].peak_fraction, 0.5);
  EXPECT_DOUBLE_EQ(r.stages["vae_decode"]["bf16"].peak_fraction, 1.1);
  EXPECT_DOUBLE_EQ(r.stages["vae_decode"]["fp32"].peak_fraction, 0);  // another precision's peak
  ASSERT_EQ(r.over_peak.size(), 1u);
  EXPECT_NE(r.over_peak[0].find("vae_decode bf16"), std::string::npos) << r.over_peak[0];
  ASSERT_EQ(r.peaks.count("bf16"), 1u);
  EXPECT_DOUBLE_EQ(r.peaks["bf16"].gflops, 1300);

  apply_peak(r, "fp32", choose_peak({candidate("m", 400, 0)}));
  EXPECT_DOUBLE_EQ(r.stages["vae_decode"]["fp32"].peak_fraction, 0.5);
  EXPECT_EQ(r.over_peak.size(), 1u);

  const std::string text = report_text(r), json = report_json(r);
  EXPECT_NE(text.find("bf16 peak 1300.0 GFLOP/s: m (impl-m), measured after"), std::string::npos) << text;
  EXPECT_NE(text.find("over the peak"), std::string::npos) << text;
  EXPECT_NE(json.find("\"set_by\": \"m\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"over_peak\""), std::string::npos) << json;
}

TEST(BenchPeak, StableWhenTheLastRepetitionsNoLongerImprove) {
  EXPECT_FALSE(repetitions_stable({1.0, 1.0, 1.0}));            // too few
  EXPECT_TRUE(repetitions_stable({1.0, 1.05, 1.01, 1.02}));     // the last 3 are no better
  EXPECT_TRUE(repetitions_stable({1.0, 1.2, 0.99, 1.1}));       // 1 % better: within 2 %
  EXPECT_FALSE(repetitions_stable({1.0, 1.2, 0.95, 1.1}));      // 5 % better
  EXPECT_FALSE(repetitions_stable({2.0, 1.9, 1.5, 1.2, 1.0}));  // still improving
  EXPECT_TRUE(repetitions_stable({2.0, 1.0, 1.3, 1.2, 1.1}, 3, 0.02));
  EXPECT_FALSE(repetitions_stable({1.0, 0.9}, 1, 0.05));
  EXPECT_TRUE(repetitions_stable({1.0, 0.99}, 1, 0.05));
}

TEST(BenchPeak, RepresentativeShapes) {
  bool matmul_4096 = false, unet_conv = false, vae_conv = false;
  for (const PeakShape& s : peak_shapes()) {
    EXPECT_GT(s.flops(), 1e9) << s.name();
    if (s.name() == "matmul 4096x4096x4096") {
      matmul_4096 = true;
      EXPECT_DOUBLE_EQ(s.flops(), 2.0 * 4096.0 * 4096.0 * 4096.0);
    }
    if (s.name() == "conv3x3 2x64x64x320->320") {
      unet_conv = true;
      EXPECT_DOUBLE_EQ(s.flops(), 2.0 * 2 * 64 * 64 * 320.0 * 320.0 * 9);
    }
    if (s.name() == "conv3x3 1x128x128x512->512") vae_conv = true;
  }
  EXPECT_TRUE(matmul_4096);
  EXPECT_TRUE(unet_conv);
  EXPECT_TRUE(vae_conv);
}

TEST(BenchPeak, MeasuresARealPrimitive) {
  PeakShape s;
  s.kind = PeakShape::Kind::Conv3x3;
  s.batch = 1;
  s.h = s.w = 16;
  s.ci = s.co = 32;
  std::string impl;
  const PeakMeasurement m = measure_peak_shape(s, Precision::F32, &impl, 6, 1.0);
  EXPECT_FALSE(impl.empty());
  EXPECT_GE(m.reps, 4);
  EXPECT_LE(m.reps, 6);
  EXPECT_GT(m.seconds, 0);
  EXPECT_NEAR(m.gflops, s.flops() / m.seconds * 1e-9, 1e-6 * m.gflops);
  EXPECT_FALSE(onednn_isa().empty());
  EXPECT_NE(cpu_description().find("family"), std::string::npos);
}

TEST(BenchKernelLog, SumsExecLinesPerPrimitiveAndImplementation) {
  const std::string log =
      "onednn_verbose,info,oneDNN v2.6.3 (commit N/A)\n"
      "onednn_verbose,create:cache_miss,cpu,convolution,brgconv:avx512_core_amx,forward_inference,src,,alg,"
      "mb2,3.5\n"
      "onednn_verbose,exec,cpu,convolution,brgconv:avx512_core_amx,forward_inference,src_bf16 wei dst,attr,"
      "alg:convolution_direct,mb2_ic320oc320,1.5\n"
      "onednn_verbose,exec,cpu,matmul,brg:avx512_core_bf16,undef,src wei dst,attr,,8192x320:320x1280,2.25\n"
      "onednn_verbose,exec,cpu,convolution,brgconv:avx512_core_amx,forward_inference,src_bf16 wei dst,attr,"
      "alg:convolution_direct,mb2_ic640oc640,2\n"
      "onednn_verbose,exec,cpu,reorder,jit:uni,undef,src dst,,,320x1280,0.25\n"
      "onednn_verbose,exec,cpu,matmul,brg:avx512_core_bf16,undef,truncated\n"
      "something else entirely\n";
  const std::vector<KernelUse> k = parse_onednn_verbose(log);
  ASSERT_EQ(k.size(), 3u);
  EXPECT_EQ(k[0].primitive, "convolution");
  EXPECT_EQ(k[0].impl, "brgconv:avx512_core_amx");
  EXPECT_EQ(k[0].calls, 2);
  EXPECT_DOUBLE_EQ(k[0].ms, 3.5);
  EXPECT_EQ(k[1].impl, "brg:avx512_core_bf16");
  EXPECT_EQ(k[1].calls, 1);
  EXPECT_EQ(k[2].primitive, "reorder");
  EXPECT_TRUE(parse_onednn_verbose("").empty());
}

TEST(BenchKernelLog, CapturesTheKernelsOfARunAndRestoresStdout) {
  PeakShape s;
  s.kind = PeakShape::Kind::Matmul;
  s.m = s.k = s.n = 64;
  std::vector<KernelUse> k;
  {
    OnednnVerboseCapture capture;
    measure_peak_shape(s, Precision::F32, nullptr, 4, 1.0);
    k = capture.finish();
  }
  ASSERT_FALSE(k.empty());
  long matmul_calls = 0;
  for (const KernelUse& u : k)
    if (u.primitive == "matmul") matmul_calls += u.calls;
  EXPECT_EQ(matmul_calls, 5);  // the warm-up and 4 repetitions
  // stdout is back: what is printed now is not captured by a finished capture.
  std::printf("stdout restored\n");
  std::fflush(stdout);
}

}  // namespace
}  // namespace i2i::bench
