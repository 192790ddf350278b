// Canny edge maps for ControlNet, bit-exact with OpenCV 4.6's cv2.Canny(gray, low, high) (apertureSize 3,
// L2gradient false), and the grey conversion OpenCV uses for it (cv2.cvtColor(rgb, COLOR_RGB2GRAY)).
#pragma once

#include "io/image.h"

namespace i2i {

// OpenCV 4's 8-bit RGB -> grey: Y = (R * 9798 + G * 19235 + B * 3735 + 16384) >> 15 (0.299 / 0.587 / 0.114
// in 15-bit fixed point; the 14-bit variant (4899, 9617, 1868) of older OpenCV rounds ~0.05% of the
// fixtures' pixels differently, and PIL's convert("L") = to_gray differs too). 1 channel stays as is, 2
// channels (grey + alpha) give the grey channel, alpha of RGBA is dropped.
Image gray_opencv(const Image& image);

// The edge map of a 1-channel image, 1 channel, 0 / 255: Sobel 3x3 derivatives (replicated borders), L1
// magnitude |dx| + |dy|, non-maximum suppression in four directions, hysteresis from pixels with magnitude
// > high through 8-connected pixels with magnitude > low. Thresholds are swapped when low > high.
// Throws i2i::Error unless the image is valid and has 1 channel, or a threshold is negative.
Image canny_gray(const Image& gray, int low, int high);

// canny_gray(gray_opencv(image), low, high): what the ControlNet Canny preprocessors do with a colour image.
// The result has 1 channel; to_rgb() gives the 3 equal channels a ControlNet takes.
Image canny(const Image& rgb_or_gray, int low, int high);

}  // namespace i2i
