// `i2i bench` stages for the ControlNet annotators of line art and soft edges, at the real networks' sizes
// with random weights: annotate_lineart (the sk_model generator: widths 64 / 128 / 256, 3 residual blocks)
// and annotate_softedge (ControlNetHED: widths 64 / 128 / 256 / 512 / 512 with 2, 2, 3, 3, 3 convolutions),
// each the whole controlnet_aux map of a 512x512 picture at detect and image resolution 512 (resize,
// network, post-processing). FLOPs: 2 * M * N * K of every convolution (flops.h's convention; a stride-2
// transposed 3x3 convolution does 9 / 4 taps per output position).
#pragma once

#include <cstdint>
#include <functional>

#include "kernels/precision.h"

namespace i2i::bench {

struct AnnotatorStage {
  std::function<void()> run;  // one whole map
  double flops = 0;
};

AnnotatorStage lineart_stage(Precision precision, uint64_t seed);
AnnotatorStage softedge_stage(Precision precision, uint64_t seed);

}  // namespace i2i::bench
