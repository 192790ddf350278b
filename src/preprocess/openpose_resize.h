// OpenCV 4's cv::resize as the OpenPose preprocessor (controlnet_aux open_pose, lllyasviel's annotator)
// calls it, bit-exact on 8-bit images: INTER_LANCZOS4, INTER_AREA and INTER_LINEAR on interleaved uint8
// (1-4 channels) and on float32 planes. The plain C++ paths of modules/imgproc/src/resize.cpp:
//  - same size: a copy;
//  - INTER_LINEAR with an integer 2x2 downscale becomes INTER_AREA;
//  - INTER_AREA when shrinking both axes: the fast integer-factor path (2x2: (a + b + c + d + 2) >> 2) or
//    the fractional cell-coverage tables (float weights and sums, rounded half to even at the end);
//    INTER_AREA that enlarges an axis is OpenCV's "area" flavour of bilinear sampling;
//  - INTER_LINEAR / INTER_LANCZOS4: separable, source coordinate (dst + 0.5) * src/dst - 0.5, replicated
//    borders; 8-bit images use 11-bit fixed-point coefficients (round to nearest even), an int horizontal
//    pass and the vertical pass's fixed-point rounding (22 bits for Lanczos, the (x >> 4) * b >> 16 then
//    (+ 2) >> 2 form for linear); float32 planes accumulate in float32 in OpenCV's order.
#pragma once

#include <vector>

#include "io/image.h"

namespace i2i {

enum class OpencvInterpolation { Linear, Area, Lanczos4 };

// A float32 image with one channel, rows top to bottom.
struct PlaneF32 {
  int width = 0;
  int height = 0;
  std::vector<float> values;  // width * height
  float at(int x, int y) const { return values[static_cast<size_t>(y) * width + x]; }
};

// cv2.resize(image, (width, height), interpolation) on an 8-bit image (any channel count 1-4).
// Throws i2i::Error for an invalid image or a size below 1.
Image opencv_resize(const Image& image, int width, int height, OpencvInterpolation interpolation);
// The same on a float32 plane.
PlaneF32 opencv_resize(const PlaneF32& plane, int width, int height, OpencvInterpolation interpolation);

}  // namespace i2i
