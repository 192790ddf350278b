// PyTorch 1.13's F.interpolate on channels-last float32 maps [N, H, W, C], with its CPU arithmetic (source
// coordinates and weights in float, sums in the kernel's order): bilinear (align_corners true or false, to
// a size) and bicubic (A = -0.75, align_corners false, no antialiasing) to a size with the scale factors the
// caller gave, which PyTorch uses as given for the coordinates (src = (dst + 0.5) / scale - 0.5) rather
// than in / out. Plain CPU loops: the maps that go through them (a depth head, a position grid) are small.
#pragma once

#include "core/tensor.h"

namespace i2i::ops {

Tensor interpolate_bilinear(const Tensor& x, int64_t out_h, int64_t out_w, bool align_corners);
Tensor interpolate_bicubic(const Tensor& x, int64_t out_h, int64_t out_w, double scale_h, double scale_w);

}  // namespace i2i::ops
