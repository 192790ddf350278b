// The peak `i2i bench` divides by: the best sustained rate among the primitives the engine runs, per
// precision (oneDNN matmul and 3x3 convolution at the shapes of the SD UNet and VAE, the layouts and data
// types dnnl_layers.cpp uses: row-major / NHWC activations, weights in the layout oneDNN picks, float32
// output), each repeated until stable, measured before and after the stages; the best of all of them is the
// peak. A stage above 100 % of it means the peak missed a faster primitive (issue 16: a 4096^3 matmul alone
// was below what the convolutions reach on an AMX CPU). Also: what the CPU is and which ISA oneDNN dispatches
// to.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/cpu/cpu_features.h"
#include "kernels/precision.h"

namespace i2i::bench {

// One primitive at one shape. Matmul: [m, k] x [k, n]. Convolution 3x3, stride 1, padding 1: batch n, h x w,
// c_in -> c_out (NHWC).
struct PeakShape {
  enum class Kind { Matmul, Conv3x3 } kind = Kind::Matmul;
  int64_t m = 0, k = 0, n = 0;                      // matmul
  int64_t batch = 0, h = 0, w = 0, ci = 0, co = 0;  // convolution
  std::string name() const;                         // e.g. "matmul 8192x320x1280", "conv3x3 2x64x64x320->320"
  double flops() const;                             // 2 * multiply-adds
};

// The representative shapes: matmul 4096^3 and the UNet's Linear shapes (M = tokens of a CFG batch), and the
// 3x3 convolutions of the UNet (batch 2) and the VAE (batch 1, 512x512 picture).
const std::vector<PeakShape>& peak_shapes();

struct PeakMeasurement {
  double seconds = 0;  // the best repetition
  double gflops = 0;
  int reps = 0;
};

// "Stable": the last `window` repetitions improved the best time of all the repetitions before them by
// less than `tolerance` (relative). Needs at least window + 1 repetitions.
bool repetitions_stable(const std::vector<double>& seconds, int window = 3, double tolerance = 0.02);

// Times `shape` in precision `p` on all threads: one warm-up, then repetitions until stable, at most
// `max_reps` or until `max_seconds` have been spent (at least 4). `impl` receives the primitive's
// implementation name (impl_info_str, e.g. "brg:avx512_core_amx"). Throws i2i::Error when oneDNN cannot
// create the primitive.
PeakMeasurement measure_peak_shape(const PeakShape& shape, Precision p, std::string* impl = nullptr,
                                   int max_reps = 30, double max_seconds = 2.0);

struct PeakCandidate {
  std::string name;  // PeakShape::name()
  std::string impl;  // the oneDNN implementation that ran
  double flops = 0;
  PeakMeasurement before, after;  // measured before and after the stages (after: reps 0 when not measured)
};

struct Peak {
  double gflops = 0;  // the best of all candidates, before and after
  double seconds = 0;
  double flops = 0;
  std::string set_by;                          // the candidate's name
  std::string impl;                            // and implementation
  std::string when;                            // "before" or "after" the stages
  double before_gflops = 0, after_gflops = 0;  // the best of each measurement round (0: not measured)
  std::vector<PeakCandidate> candidates;
};

// The maximum over the candidates' before and after measurements (the first on ties). An empty list gives
// a zero peak.
Peak choose_peak(std::vector<PeakCandidate> candidates);

// Measures every peak shape in precision `p` (the `before` fields).
std::vector<PeakCandidate> measure_peak_candidates(Precision p);
// Measures them again into the `after` fields.
void remeasure_peak_candidates(std::vector<PeakCandidate>& candidates, Precision p);

// The CPU: cpu_description() of kernels/cpu/cpu_features.h.
// The ISA oneDNN dispatches to (dnnl::get_effective_cpu_isa), e.g. "avx512_core_amx".
std::string onednn_isa();
// oneDNN's version, e.g. "2.6.3".
std::string onednn_version();

}  // namespace i2i::bench
