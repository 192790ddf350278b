// The OpenPose body network (CMU's COCO 18-keypoint model as controlnet_aux / lllyasviel's annotator run it:
// open_pose/model.py bodypose_model, weights body_pose_model.pth). A VGG-19 front (3x3 convolutions + ReLU,
// three 2x2 max-pools: stride 8) with two CPM convolutions gives the features F; stage 1 has two branches on
// F (3x3 x3, 1x1, 1x1), stages 2-6 two branches on cat(PAFs, heatmaps, F) (7x7 x5, 1x1, 1x1). Branch L1 ends
// in 38 part-affinity-field channels, L2 in 19 heatmaps (18 parts + background). Every convolution is
// followed by a ReLU except the branch outputs; upstream's no_relu_layers lists Mconv7_stage6_L1 twice and
// omits Mconv7_stage6_L2, so the final heatmaps do pass through a ReLU (reproduced here).
//
// Sizes come from the tensor shapes (the real model: VGG 64/128/256/512, CPM 256 -> 128, stage width 128,
// stage-1 1x1 width 512).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"
#include "kernels/conv2d.h"
#include "models/weights.h"

namespace i2i {

struct OpenposeBodyConfig {
  int64_t vgg1 = 64, vgg2 = 128, vgg3 = 256, vgg4 = 512;  // conv1_x, conv2_x, conv3_x, conv4_1/4_2 widths
  int64_t cpm3 = 256, cpm = 128;                          // conv4_3_CPM, conv4_4_CPM (the features F)
  int64_t stage1_hidden = 128, stage1_wide = 512;         // conv5_1..3, conv5_4
  int64_t stage_hidden = 128;                             // Mconv1..6 of stages 2-6
  static constexpr int64_t kPafs = 38, kHeatmaps = 19, kStages = 6;
  int64_t parameter_count() const;
};

// The sizes of the weights `w` (names as in body_pose_model.pth: conv1_1.weight, Mconv7_stage6_L2.bias, ...),
// checking that every layer is there with a consistent shape; i2i::Error naming the tensor otherwise.
OpenposeBodyConfig openpose_body_config(const Weights& w);

// Every tensor (name, shape) of a body model of these sizes, in the file's layer order (benchmarks and tests
// build random models from it).
std::vector<std::pair<std::string, Shape>> openpose_body_layout(const OpenposeBodyConfig& c);
// The analytic FLOPs of one forward on an H x W input (2 * positions * out * in * k * k per convolution).
double openpose_body_flops(const OpenposeBodyConfig& c, int64_t height, int64_t width);

class OpenposeBody {
 public:
  OpenposeBody() = default;
  OpenposeBody(const Weights& w, Precision precision = Precision::F32);

  struct Output {
    Tensor paf;      // [N, H/8, W/8, 38] float32 (Mconv7_stage6_L1)
    Tensor heatmap;  // [N, H/8, W/8, 19] float32 (ReLU(Mconv7_stage6_L2))
  };
  // x: [N, H, W, 3] float32, BGR, value / 256 - 0.5, H and W multiples of 8.
  Output operator()(const Tensor& x) const;

  const OpenposeBodyConfig& config() const { return config_; }

 private:
  struct Layer {
    Conv2d conv;
    bool relu = true;
  };
  using Branch = std::vector<Layer>;
  OpenposeBodyConfig config_;
  Branch front_;                                  // conv1_1 .. conv4_4_CPM (pools after conv1_2, 2_2, 3_4)
  std::vector<Branch> paf_stages_, heat_stages_;  // stages 1..6
};

}  // namespace i2i
