// The picture handling that AUTOMATIC1111's sd-webui-controlnet does around its annotators
// (annotator/util.py HWC3, scripts/preprocessor/legacy/processor.py resize_image_with_pad): the source as 3
// channels, its short side scaled to the processor resolution with OpenCV (INTER_CUBIC when enlarging,
// INTER_AREA otherwise), then padded on the bottom and right by edge replication to multiples of 64; the
// annotator's map is cropped back to the scaled size (remove_pad).
#pragma once

#include "io/image.h"

namespace i2i {

// HWC3: grey -> 3 equal channels; RGBA (and grey + alpha) -> composited on white in float32 and truncated
// (color * a + 255 * (1 - a), a = alpha / 255), as the extension does.
Image hwc3(const Image& image);

struct PaddedImage {
  Image image;                // the scaled picture with its padding
  int width = 0, height = 0;  // the scaled size before padding (what remove_pad keeps)
};

// resize_image_with_pad(HWC3(image), resolution): k = resolution / min(H, W), the target side
// round_half_even(side * k). Throws i2i::Error for a resolution outside [kMinProcessorResolution,
// kMaxProcessorResolution] (naming it) or a picture too small (under 16 pixels a side) or whose scaled
// size would exceed kMaxImageSide.
PaddedImage resize_image_with_pad(const Image& image, int resolution);

// The top-left width x height of `map` (remove_pad).
Image remove_pad(const Image& map, int width, int height);

}  // namespace i2i
