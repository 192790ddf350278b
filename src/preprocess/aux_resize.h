// The image handling every controlnet_aux detector shares (src/controlnet_aux/util.py; lllyasviel's
// annotator/util.py is the same): HWC3 and resize_image, on top of OpenCV's resize (opencv_resize.h).
#pragma once

#include "io/image.h"

namespace i2i {

// The most a detect / image resolution may be (A1111's ControlNet slider stops at 2048; the generation
// limit of 8192 pixels a side leaves room for large maps).
inline constexpr int kMaxAnnotatorResolution = 8192;

// HWC3: 3 channels. Grey is replicated; an alpha channel is composited over white in float32
// (color * a + 255 * (1 - a), a = alpha / 255) and truncated; grey + alpha as grey replicated then that.
Image hwc3(const Image& image);

struct AnnotatorSize {
  int width = 0, height = 0;
};
// resize_image's target size: k = resolution / min(H, W), each side int(np.round(side * k / 64)) * 64 (round
// half to even). i2i::Error (naming `what`, e.g. "detect resolution") when resolution is outside
// 1 .. kMaxAnnotatorResolution or a side would become 0.
AnnotatorSize annotator_size(int width, int height, int resolution, const char* what = "resolution");

// resize_image(image, resolution) on a 3-channel image: cv2.resize to annotator_size(), INTER_LANCZOS4 when
// k > 1, else INTER_AREA (the same size: a copy).
Image annotator_resize(const Image& rgb, int resolution, const char* what = "resolution");

}  // namespace i2i
