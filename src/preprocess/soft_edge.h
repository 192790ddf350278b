// The ControlNet soft-edge preprocessors "softedge_hed" and "softedge_hedsafe": the network of
// models/controlnet_hed.h on an 8-bit picture, as
//
// * controlnet_aux's HEDdetector.__call__ (src/controlnet_aux/hed/__init__.py, util.py; scribble off; what
//   `i2i preprocess softedge` does, the fixtures' reference):
//     1. img = resize_image(HWC3(image), detect_resolution)            (aux_resize.h)
//     2. the network on float32(img), RGB 0..255 (not divided): five projections
//     3. each projection cv2.resize'd INTER_LINEAR in float32 to the detect size (the first is that size)
//     4. mean of the five in float32 (summed in order, / 5), then 1 / (1 + exp(-m)) in float64
//     5. safe: safe_step(x, 2) = float32(int32(float32(x) * 3)) / 2 (0, 0.5, 1, 1.5)
//     6. (v * 255).clip(0, 255) truncated to uint8; HWC3; cv2.resize INTER_LINEAR (8-bit fixed point) to
//        resize_image(img, image_resolution)'s size: white edges on black
// * AUTOMATIC1111's extension (scripts/preprocessor/legacy/processor.py hed / hed_safe with annotator/hed's
//   apply_hed, the same steps 2-6 without the final resize; what a ControlNet unit's --control-preprocess
//   does): resize_image_with_pad(image, resolution) (annotator_resize.h), steps 2-6, remove_pad.
#pragma once

#include <vector>

#include "core/tensor.h"
#include "io/image.h"
#include "models/controlnet_hed.h"
#include "preprocess/control_preprocessors.h"

namespace i2i {

// The intermediate results, for tests (planes are row-major H x W of the detect image).
struct SoftEdgeTrace {
  Image detect_image;                     // step 1, RGB
  Tensor net_input;                       // [1, H, W, 3] in 0..255
  std::vector<Tensor> projections;        // step 2, [1, h, w, 1]
  std::vector<std::vector<float>> edges;  // step 3
  std::vector<float> mean_logit;          // step 4
  std::vector<double> sigmoid;            // step 4
  std::vector<float> safe_step;           // step 5 (safe only)
  Image edge;                             // step 6 before HWC3, 1 channel
};

// Steps 2-6 up to the 8-bit map (1 channel) of a 3-channel picture.
Image soft_edge(const Image& rgb, const ControlNetHed& net, bool safe, SoftEdgeTrace* trace = nullptr);

// controlnet_aux's map (RGB) of a picture with 1-4 channels. i2i::Error for a picture under 16 pixels a side
// or a resolution outside [kMinProcessorResolution, kMaxProcessorResolution] (naming "detect resolution" /
// "image resolution").
Image soft_edge_map(const Image& image, const ControlNetHed& net, bool safe, int detect_resolution,
                    int image_resolution, SoftEdgeTrace* trace = nullptr);

// AUTOMATIC1111's map (RGB) at the scaled size (short side = resolution).
Image soft_edge_map_a1111(const Image& image, const ControlNetHed& net, bool safe, int resolution);

// The softedge_hed / softedge_hedsafe rows of control_preprocessors.h: load settings.annotator_model at
// settings.precision for the call, soft_edge_map_a1111 at settings.resolution.
Image run_softedge_hed(const Image& source, const ControlPreprocessSettings& settings);
Image run_softedge_hedsafe(const Image& source, const ControlPreprocessSettings& settings);

}  // namespace i2i
