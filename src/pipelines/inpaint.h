// AUTOMATIC1111-style inpainting around the denoising pipeline: the mask options (blur, invert, masked
// content, "inpaint only masked" with padding), the work area the pipeline sees, and the way the result is
// put back (pasted into the source for "only masked", then overlaid so that every pixel outside the blurred
// mask is the source's, byte for byte).
//
//   InpaintSetup s = prepare_inpaint(source, read_mask(mask_image), width, height, options, resize_mode);
//   request.init_image = image_to_tensor(s.work_image); request.mask = mask_to_tensor(s.work_mask);
//   request.latent_fill = s.latent_fill;  ... run_img2img ...
//   Image out = finish_inpaint(s, tensor_to_image(result.images, b), composite);
#pragma once

#include <optional>
#include <string>

#include "io/image.h"
#include "io/image_resize.h"
#include "pipelines/img2img.h"
#include "pipelines/inpaint_mask.h"

namespace i2i {

// A1111's "Masked content" (inpainting_fill 0..3).
enum class MaskedContent { Fill, Original, LatentNoise, LatentNothing };
// "original", "fill", "latent noise", "latent nothing" (case-insensitive; '_' or '-' for the space);
// i2i::Error listing them otherwise.
MaskedContent parse_masked_content(const std::string& name);
std::string masked_content_name(MaskedContent c);  // as A1111's infotext writes it ("latent noise")

struct MaskOptions {
  bool invert = false;  // repaint what is black ("Inpaint not masked")
  int blur = 4;         // "Mask blur", pixels
  MaskedContent content = MaskedContent::Original;
  bool only_masked = false;  // "Inpaint area: Only masked"
  int padding = 32;          // "Masked area padding", pixels
};

struct InpaintSetup {
  Image work_image;    // width x height RGB: what the pipeline encodes
  Image work_mask;     // width x height, 1 channel: what it repaints (>= 128)
  Image base;          // the picture the result goes back into: the source at the output size
  Image overlay_mask;  // base-sized, 1 channel: how much of the generated picture each output pixel takes
  std::optional<CropBox> crop;  // only masked: the work area's place in `base`
  LatentFill latent_fill = LatentFill::Original;
};

// The mask after A1111's reading steps: inverted if asked, then blurred (at the mask's resolution).
Image process_mask(const Image& mask, const MaskOptions& options);

// `source`: RGB at its own size; `mask`: 1 channel (read_mask) at the source's size. Without only_masked
// both are resized (resize_mode) to width x height, which is also the output size, and the overlay mask is
// the processed mask doubled (A1111: clip(mask * 2)). With only_masked the output keeps the source's size:
// the work area is the processed mask's bounding box plus `padding`, widened to the aspect ratio of
// width x height (expand_crop_region), cut from source and mask and resized to width x height; the overlay
// mask is the processed mask. "fill" fills the work image's masked area. Throws i2i::Error for an empty mask
// (check mask_is_empty(process_mask(...)) first to report "nothing to do").
InpaintSetup prepare_inpaint(const Image& source, const Image& mask, int width, int height,
                             const MaskOptions& options, ResizeMode resize_mode = ResizeMode::JustResize);

// A base-sized image (e.g. a control image prepared at the output size) cut to the work area, at
// width x height; unchanged without only_masked.
Image to_work_area(const InpaintSetup& setup, const Image& base_sized);

// A generated picture (work size, RGB) back in the output: resized into the crop box and pasted into the
// source (only masked); then, with `composite`, overlaid so that pixels where the overlay mask is 0 are the
// source's exactly. Without `composite` and without only_masked, the generated picture as it is.
Image finish_inpaint(const InpaintSetup& setup, const Image& generated, bool composite);

}  // namespace i2i
