// controlnet_aux's resize_image (src/controlnet_aux/util.py, also lllyasviel's annotator/util.py), which its
// LineartDetector, HEDdetector, OpenposeDetector, ... run before and after their networks: the short side
// scaled to a resolution and both sides rounded to multiples of 64, with OpenCV (io/cv_resize.h).
// (AUTOMATIC1111's extension pads instead: annotator_resize.h.)
#pragma once

#include "io/image.h"

namespace i2i {

struct AuxSize {
  int width = 0, height = 0;
};

// resize_image's target size: k = resolution / min(H, W), each side int(np.round(side * k / 64)) * 64 (round
// half to even). i2i::Error naming `what` ("detect resolution", "image resolution") when resolution is
// outside [kMinProcessorResolution, kMaxProcessorResolution] (control_preprocessors.h), or naming the size
// when the picture is under 16 pixels a side or the result would exceed the image limits.
AuxSize aux_resize_size(int width, int height, int resolution, const char* what = "resolution");

// resize_image(HWC3(image), resolution): cv2.resize to aux_resize_size(), INTER_LANCZOS4 when k > 1, else
// INTER_AREA (the same size: a copy). Always 3 channels.
Image aux_resize_image(const Image& image, int resolution, const char* what = "resolution");

}  // namespace i2i
