// PyTorch 1.13's F.interpolate on channels-last float32 maps [N, H, W, C], with its CPU arithmetic (source
// coordinates and weights in float, sums in the kernel's order): bilinear (align_corners true or false, to
// a size) and bicubic (A = -0.75, align_corners false, no antialiasing) to a size with the scale factors the
// caller gave, which PyTorch uses as given for the coordinates (src = (dst + 0.5) / scale - 0.5) rather
// than in / out. CPU loops over whole pixels (channels innermost, vectorised), rows in parallel; every value
// gets the same operations in the same order as PyTorch's per-channel loop.
#pragma once

#include "core/tensor.h"

namespace i2i::ops {

// `out` F32 (default) or BF16: the float32 result rounded to bf16 (round to nearest even), to feed a bf16
// layer (Conv2d::input_dtype()) without a float32 copy.
Tensor interpolate_bilinear(const Tensor& x, int64_t out_h, int64_t out_w, bool align_corners,
                            DType out = DType::F32);
Tensor interpolate_bicubic(const Tensor& x, int64_t out_h, int64_t out_w, double scale_h, double scale_w);

}  // namespace i2i::ops
