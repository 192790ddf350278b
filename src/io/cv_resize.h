// OpenCV 4.6's cv::resize for the annotators (ControlNet preprocessors) that resize with it: INTER_CUBIC on
// 8-bit and float64 images, INTER_AREA, INTER_LINEAR and INTER_LANCZOS4 on 8-bit images and INTER_LINEAR on
// float32 planes, reproducing OpenCV's arithmetic (imgproc/src/resize.cpp): source coordinate
// (dx + 0.5) * scale - 0.5 rounded to float, the cubic kernel A = -0.75 / the Lanczos4 window / the linear
// weights in float (coefficients of 8-bit images in 11-bit fixed point, rounded to even), borders
// replicated; INTER_AREA's exact-coverage weights (computeResizeAreaTab) summed in float and rounded to
// nearest even, or the plain block mean for integer factors (2x2: (sum + 2) >> 2, OpenCV's vector path).
// The vertical 8-bit cubic pass follows OpenCV's 128-bit SIMD path (float products and rounding) on full
// 8-value groups and its integer path on the rest; the vertical 8-bit linear pass is OpenCV's vector formula
// ((((a >> 4) * b0) >> 16) + (((c >> 4) * b1) >> 16) + 2) >> 2 on every value (OpenCV 4.6 matches it on
// 9769 random sizes and channel counts); INTER_AREA on a growing axis is OpenCV's bilinear emulation; an
// exact 2x INTER_LINEAR shrink is INTER_AREA, as in OpenCV.
// Float32 planes (INTER_LINEAR, INTER_AREA, INTER_LANCZOS4; the OpenPose annotator's heat maps) share the
// same coefficient tables and accumulate in float32 in OpenCV's order: the horizontal taps left to right, the
// vertical ones from the first row down; INTER_AREA's integer factors sum each block ((a + b) + (c + d) on
// OpenCV's 4-wide 2x2 vector path, left to right elsewhere) times 1 / area.
#pragma once

#include <vector>

#include "io/image.h"

namespace i2i {

enum class CvInterpolation {
  Cubic,     // cv2.INTER_CUBIC
  Area,      // cv2.INTER_AREA
  Linear,    // cv2.INTER_LINEAR
  Lanczos4,  // cv2.INTER_LANCZOS4
};

// A float32 image with one channel, rows top to bottom.
struct PlaneF32 {
  int width = 0;
  int height = 0;
  std::vector<float> values;  // width * height
  float at(int x, int y) const { return values[static_cast<size_t>(y) * width + x]; }
};

// cv2.resize(image, (width, height), interpolation): 1 to 4 interleaved channels. Same size: a copy.
// Throws i2i::Error for a bad size.
Image cv_resize(const Image& image, int width, int height, CvInterpolation interpolation);

// cv2.resize(image, (width, height), interpolation=cv2.INTER_CUBIC) of a float64 image (`pixels` interleaved,
// height x width x channels, no clamping of the result). Same size: a copy.
std::vector<double> cv_resize_cubic(const std::vector<double>& pixels, int width, int height, int channels,
                                    int out_width, int out_height);

// cv2.resize(plane, (width, height), interpolation) of a float32 plane: INTER_LINEAR, INTER_AREA or
// INTER_LANCZOS4 (INTER_CUBIC is refused). Same size: a copy. Throws i2i::Error for a bad plane or size.
PlaneF32 cv_resize(const PlaneF32& plane, int width, int height, CvInterpolation interpolation);

// cv2.resize(plane, (out_width, out_height), interpolation=cv2.INTER_LINEAR) of a float32 plane of width x
// height values (row-major; float32 arithmetic without fused multiply-adds, as OpenCV's SSE build). Same
// size: a copy.
std::vector<float> cv_resize_linear(const std::vector<float>& plane, int width, int height, int out_width,
                                    int out_height);

}  // namespace i2i
