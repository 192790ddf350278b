#include "pipelines/inpaint.h"

#include <algorithm>

#include "core/error.h"

namespace i2i {

MaskedContent parse_masked_content(const std::string& name) {
  std::string n;
  for (char c : name)
    n += c == '_' || c == '-' ? ' ' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (n == "original") return MaskedContent::Original;
  if (n == "fill") return MaskedContent::Fill;
  if (n == "latent noise") return MaskedContent::LatentNoise;
  if (n == "latent nothing") return MaskedContent::LatentNothing;
  throw Error("unknown masked content '" + name +
              "' (use original, fill, \"latent noise\" or \"latent nothing\")");
}

std::string masked_content_name(MaskedContent c) {
  switch (c) {
    case MaskedContent::Fill:
      return "fill";
    case MaskedContent::Original:
      return "original";
    case MaskedContent::LatentNoise:
      return "latent noise";
    case MaskedContent::LatentNothing:
      return "latent nothing";
  }
  return "";
}

Image process_mask(const Image& mask, const MaskOptions& o) {
  check(mask.channels == 1, "process_mask: the mask must have 1 channel (see read_mask)");
  return blur_mask(o.invert ? invert_mask(mask) : mask, o.blur);
}

InpaintSetup prepare_inpaint(const Image& source, const Image& mask, int width, int height,
                             const MaskOptions& o, ResizeMode resize_mode) {
  check(source.channels == 3, "inpainting: the source must be RGB");
  check(mask.width == source.width && mask.height == source.height,
        "inpainting: the mask is " + std::to_string(mask.width) + "x" + std::to_string(mask.height) +
            ", the image " + std::to_string(source.width) + "x" + std::to_string(source.height));
  check(width > 0 && height > 0, "inpainting: bad work size");
  check(o.padding >= 0, "the masked area padding must not be negative");
  const Image processed = process_mask(mask, o);
  check(!mask_is_empty(processed), "the mask is all black: nothing to repaint");
  InpaintSetup s;
  if (o.only_masked) {
    s.base = source;
    s.overlay_mask = processed;
    s.crop = expand_crop_region(*get_crop_region(processed, o.padding), width, height, source.width,
                                source.height);
    s.work_mask = resize_image(ResizeMode::ResizeAndFill, crop_image(processed, *s.crop), width, height);
    s.work_image = resize_image(ResizeMode::ResizeAndFill, crop_image(source, *s.crop), width, height);
  } else {
    s.base = source.width == width && source.height == height
                 ? source
                 : resize_image(resize_mode, source, width, height);
    s.work_image = s.base;
    s.work_mask = processed.width == width && processed.height == height
                      ? processed
                      : resize_image(resize_mode, processed, width, height);
    s.overlay_mask = s.work_mask;
    for (auto& v : s.overlay_mask.pixels) v = static_cast<uint8_t>(std::min(255, v * 2));
  }
  if (o.content == MaskedContent::Fill) s.work_image = fill_masked(s.work_image, s.work_mask);
  s.latent_fill = o.content == MaskedContent::LatentNoise     ? LatentFill::LatentNoise
                  : o.content == MaskedContent::LatentNothing ? LatentFill::LatentNothing
                                                              : LatentFill::Original;
  return s;
}

Image to_work_area(const InpaintSetup& s, const Image& base_sized) {
  if (!s.crop) return base_sized;
  check(base_sized.width == s.base.width && base_sized.height == s.base.height,
        "to_work_area: the image is not at the output size");
  return resize_image(ResizeMode::ResizeAndFill, crop_image(base_sized, *s.crop), s.work_image.width,
                      s.work_image.height);
}

Image finish_inpaint(const InpaintSetup& s, const Image& generated, bool composite) {
  check(generated.width == s.work_image.width && generated.height == s.work_image.height,
        "finish_inpaint: the generated picture is not at the work size");
  Image out = generated;
  if (s.crop)
    out = paste_image(s.base,
                      resize_image(ResizeMode::CropAndResize, generated, s.crop->width(), s.crop->height()),
                      *s.crop);
  return composite ? composite_over(out, s.base, s.overlay_mask) : out;
}

}  // namespace i2i
