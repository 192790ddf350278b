// AUTOMATIC1111's inpainting mask handling on 8-bit images (modules/processing.py
// StableDiffusionProcessingImg2Img.init and modules/masking.py): reading a mask, blurring it, the "only
// masked" crop region, the "fill" masked content, and the final overlay that keeps every pixel outside the
// (blurred) mask byte-identical to the source.
#pragma once

#include <optional>

#include "io/image.h"

namespace i2i {

// A1111's create_binary_mask: an image with an alpha channel that is not fully opaque gives its alpha,
// thresholded (> 128 -> 255, else 0); anything else its grey levels (PIL convert("L")), kept as they are.
// White = repaint. Returns 1 channel.
Image read_mask(const Image& mask);
// 255 - v (ImageOps.invert), for --invert-mask ("Inpaint not masked").
Image invert_mask(const Image& mask);
// True when no pixel of a 1-channel mask is above 0.
bool mask_is_empty(const Image& mask);

// A1111's mask blur: cv2.GaussianBlur horizontally with a (2 * int(2.5 * sigma + 0.5) + 1)-tap kernel, then
// vertically with the same, sigma = `blur` pixels, reflected borders (BORDER_REFLECT_101); float
// accumulation rounded to 8 bits (OpenCV's 8-bit fixed-point path can differ by one level). 0: unchanged.
Image blur_mask(const Image& mask, int blur);

// Pixel rectangle [x1, x2) x [y1, y2).
struct CropBox {
  int x1 = 0, y1 = 0, x2 = 0, y2 = 0;
  int width() const { return x2 - x1; }
  int height() const { return y2 - y1; }
  bool operator==(const CropBox&) const = default;
};
// masking.get_crop_region: the bounding box of the pixels above 0, grown by `pad` on every side and clipped
// to the image; nullopt for an empty mask.
std::optional<CropBox> get_crop_region(const Image& mask, int pad);
// masking.expand_crop_region: grows the box to the aspect ratio of the processing size (width x height),
// shifting it back inside the image (image_width x image_height) where it would leave it.
CropBox expand_crop_region(CropBox box, int width, int height, int image_width, int image_height);
// The pixels of `box` (inside the image).
Image crop_image(const Image& image, const CropBox& box);
// `patch` (box-sized) pasted into a copy of `image` at the box.
Image paste_image(const Image& image, const Image& patch, const CropBox& box);

// A1111's "fill" masked content (masking.fill): the masked area (mask > 0, weighted by the mask) is replaced
// by the surrounding colours, smeared in by blurs of decreasing radius (256, 64, 16, 4, 2, 0) of the
// unmasked pixels, premultiplied by their weight, composited over each other. The blurs are 3-pass box blurs
// approximating PIL's GaussianBlur(radius), so values may differ from A1111's by a few levels. RGB in, RGB
// out.
Image fill_masked(const Image& rgb, const Image& mask);

// The final overlay (A1111's apply_overlay with the overlay made from the source and `overlay_mask`): where
// the mask is 0 the source pixel, where it is 255 the generated one, in between
// round((source * (255 - m) + generated * m) / 255). Both RGB and the mask 1 channel, all the same size.
Image composite_over(const Image& generated, const Image& source, const Image& overlay_mask);

}  // namespace i2i
