// The ControlNet line-art preprocessors "lineart_realistic" (sk_model.pth) and "lineart_coarse"
// (sk_model2.pth): the generator of models/lineart_generator.h on an 8-bit picture, as
//
// * controlnet_aux's LineartDetector.__call__ (src/controlnet_aux/lineart/__init__.py, util.py; what
//   `i2i preprocess lineart` does, the fixtures' reference):
//     1. img = resize_image(HWC3(image), detect_resolution)            (aux_resize.h)
//     2. the generator on float32(img) / 255, RGB; line = (out * 255).clip(0, 255) truncated to uint8
//     3. HWC3, cv2.resize INTER_LINEAR (8-bit fixed point) to resize_image(img, image_resolution)'s size
//     4. 255 - map: dark lines on white (the inversion comes after the resize)
// * AUTOMATIC1111's extension (scripts/preprocessor/legacy/processor.py lineart / lineart_coarse; what a
//   ControlNet unit's --control-preprocess does): resize_image_with_pad(image, resolution)
//   (annotator_resize.h), step 2 on the padded picture, 255 - line, remove_pad.
#pragma once

#include "core/tensor.h"
#include "io/image.h"
#include "models/lineart_generator.h"
#include "preprocess/control_preprocessors.h"

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

// Step 2: the line map (1 channel, white lines on black) of a 3-channel picture.
Image lineart_line(const Image& rgb, const LineartGenerator& net, LineartTrace* trace = nullptr);

// controlnet_aux's map (RGB) of a picture with 1-4 channels. i2i::Error for a picture under 16 pixels a side
// or a resolution outside [kMinProcessorResolution, kMaxProcessorResolution] (naming "detect resolution" /
// "image resolution").
Image lineart_map(const Image& image, const LineartGenerator& net, int detect_resolution,
                  int image_resolution, LineartTrace* trace = nullptr);

// AUTOMATIC1111's map (RGB, dark lines on white) at the scaled size (short side = resolution).
Image lineart_map_a1111(const Image& image, const LineartGenerator& net, int resolution);

// The lineart_realistic / lineart_coarse rows of control_preprocessors.h (the same network; the file given
// as settings.annotator_model decides): loads it at settings.precision for the call, lineart_map_a1111 at
// settings.resolution.
Image run_lineart(const Image& source, const ControlPreprocessSettings& settings);

}  // namespace i2i
