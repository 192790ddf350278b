// OpenCV 4.6's cv2.resize, bit for bit, for the interpolations the ControlNet annotators use
// (controlnet_aux util.py resize_image and the detectors' map resizes; modules/imgproc/src/resize.cpp):
//
// * 8-bit images (any 1-4 interleaved channels): INTER_LINEAR and INTER_LANCZOS4 in fixed point (11-bit
//   weights, cvRound'ed; the 2-tap vertical pass as OpenCV's 128-bit SIMD path rounds it:
//   ((((a >> 4) * b0) >> 16) + (((c >> 4) * b1) >> 16) + 2) >> 2, its scalar tail with (v + 2^21) >> 22),
//   half-pixel centres, clamped borders; INTER_AREA: the exact box filter when shrinking along both axes
//   (integer factors: resizeAreaFast, 2x2 with (sum + 2) >> 2; otherwise float weights per overlap), and
//   OpenCV's bilinear emulation when either axis grows. INTER_LINEAR with an exact 2x shrink is INTER_AREA,
//   as in OpenCV.
// * float32 planes: INTER_LINEAR in float32 (no fused multiply-add, as OpenCV's SSE build).
//
// The same size returns a copy. Throws i2i::Error for an invalid image or a size below 1.
#pragma once

#include <vector>

#include "io/image.h"

namespace i2i {

enum class CvInterpolation { Linear, Area, Lanczos4 };

Image cv_resize(const Image& image, int width, int height, CvInterpolation interpolation);

// A float32 plane of src_width x src_height values (row-major), INTER_LINEAR to width x height.
std::vector<float> cv_resize_linear(const std::vector<float>& plane, int src_width, int src_height, int width,
                                    int height);

}  // namespace i2i
