// OpenCV 4.6's cv::resize for the annotators (ControlNet preprocessors) that resize with it: INTER_CUBIC on
// 8-bit and float64 images and INTER_AREA on 8-bit images, reproducing OpenCV's arithmetic (imgproc/src/
// resize.cpp): source coordinate (dx + 0.5) * scale - 0.5 rounded to float, the cubic kernel A = -0.75 in
// float (coefficients of 8-bit images in 11-bit fixed point), borders replicated; INTER_AREA's
// exact-coverage weights (computeResizeAreaTab) summed in float and rounded to nearest even, or the plain
// block mean for integer factors. The vertical 8-bit cubic pass follows OpenCV's 128-bit SIMD path (float
// products and rounding) on full 8-value groups and its integer path on the rest.
#pragma once

#include <vector>

#include "io/image.h"

namespace i2i {

enum class CvInterpolation {
  Cubic,  // cv2.INTER_CUBIC
  Area,   // cv2.INTER_AREA (for reductions; an enlargement is refused)
};

// cv2.resize(image, (width, height), interpolation): 1 to 4 interleaved channels. Same size: a copy.
// Throws i2i::Error for a bad size.
Image cv_resize(const Image& image, int width, int height, CvInterpolation interpolation);

// cv2.resize(image, (width, height), interpolation=cv2.INTER_CUBIC) of a float64 image (`pixels` interleaved,
// height x width x channels, no clamping of the result). Same size: a copy.
std::vector<double> cv_resize_cubic(const std::vector<double>& pixels, int width, int height, int channels,
                                    int out_width, int out_height);

}  // namespace i2i
