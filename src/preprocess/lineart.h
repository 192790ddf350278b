// The ControlNet line-art preprocessors "lineart_realistic" (sk_model) and "lineart_coarse" (sk_model2):
// controlnet_aux LineartDetector.__call__ (src/controlnet_aux/lineart/__init__.py, util.py):
//
//   1. img = resize_image(HWC3(image), detect_resolution)            (annotator_resize.h)
//   2. the generator on float32(img) / 255, RGB; line = (out * 255).clip(0, 255) truncated to uint8
//   3. HWC3, cv2.resize INTER_LINEAR (8-bit fixed point) to resize_image(img, image_resolution)'s size
//   4. 255 - map: dark lines on white, RGB (the inversion comes after the resize)
#pragma once

#include "core/tensor.h"
#include "io/image.h"
#include "models/lineart_generator.h"

namespace i2i {

// The intermediate results, for tests.
struct LineartTrace {
  Image detect_image;               // step 1, RGB
  Tensor net_input;                 // [1, H, W, 3] in 0..1
  LineartGenerator::Stages stages;  // model0 .. model3, logits
  Tensor net_output;                // [1, H, W, 1] sigmoid
  Image line;                       // step 2, 1 channel
  Image resized;                    // step 3, RGB, before the inversion
};

// The line-art control map (RGB) of an image with 1-4 channels. i2i::Error for a bad image or resolution
// (1 .. kMaxAnnotatorResolution, naming "detect resolution" / "image resolution").
Image lineart_map(const Image& image, const LineartGenerator& net, int detect_resolution,
                  int image_resolution, LineartTrace* trace = nullptr);

}  // namespace i2i
