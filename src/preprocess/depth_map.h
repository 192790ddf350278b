// Depth maps for ControlNet as AUTOMATIC1111's sd-webui-controlnet makes them with Depth Anything V2
// (depth_anything_v2() of scripts/preprocessor/legacy/processor.py around annotator/depth_anything_v2.py @
// 56cec5b2, the network of models/depth_anything_v2.h):
//   1. resize_image_with_pad(HWC3(img), resolution) (annotator_resize.h);
//   2. cv2.cvtColor(img, COLOR_BGR2RGB) / 255.0 on the extension's RGB picture - so the network sees BGR -,
//      float64 from here; Resize(518, lower_bound, multiple of 14, INTER_CUBIC on the float64 picture, no
//      clamping); (x - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]; then float32;
//   3. the network; F.interpolate(depth, padded size, bilinear, align_corners=False);
//   4. (d - min) / (max - min) * 255 in float32 over the padded map, truncated to 8 bits; coloured:
//      cv2.applyColorMap(COLORMAP_INFERNO) as RGB; remove_pad.
#pragma once

#include <utility>

#include "core/tensor.h"
#include "io/image.h"
#include "models/depth_anything_v2.h"
#include "preprocess/control_preprocessors.h"

namespace i2i {

// The longest picture the network is run on, as long side / short side. The network sees the short side at
// 518 pixels whatever the processor resolution, so its work and memory grow with the aspect ratio alone: a
// 1000x16 picture would be 85 544 tokens (~85 times a square's 1 370) and take gigabytes. Refused instead.
inline constexpr int kDepthAnythingMaxAspect = 8;

// The network input size (width, height) of a width x height picture: both sides scaled by
// max(518 / h, 518 / w), each rounded (half to even) to a multiple of 14, and raised to the next multiple
// when below 518. Throws i2i::Error naming the size for a picture longer than kDepthAnythingMaxAspect times
// its short side.
std::pair<int, int> depth_anything_input_size(int width, int height);

// Steps 2 of the header for an RGB (3-channel) picture: float32 NHWC [1, h, w, 3], channels in B, G, R
// order (as A1111's path feeds the network).
Tensor depth_anything_input(const Image& rgb);

// Step 3's resize: depth [h, w] float32 -> [height, width], bilinear, align_corners=False.
Tensor resize_depth(const Tensor& depth, int width, int height);

// Step 4's 8-bit map of depth [h, w] (a constant map gives zeros): 1 channel.
Image depth_to_gray(const Tensor& depth);

// cv2.applyColorMap(gray, COLORMAP_INFERNO)[:, :, ::-1]: RGB.
Image colorize_inferno(const Image& gray);

// The whole preprocessor: the map of `source` (any channel count) at processor `resolution`, grey (1
// channel) or coloured (RGB), at the scaled size (the short side = resolution). Throws i2i::Error for a
// bad resolution or a picture too small.
Image depth_anything_v2_map(const DepthAnythingV2& net, const Image& source, int resolution, bool colored);

// The depth_anything_v2 row of control_preprocessors.h: loads settings.annotator_model at
// settings.precision for the call (released afterwards) and makes the map at settings.resolution.
Image run_depth_anything_v2(const Image& source, const ControlPreprocessSettings& settings);

}  // namespace i2i
