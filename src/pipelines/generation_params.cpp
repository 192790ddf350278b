#include "pipelines/generation_params.h"

#include <algorithm>

#include "core/error.h"

namespace i2i {

std::string resize_mode_name(ResizeMode m) {
  switch (m) {
    case ResizeMode::JustResize:
      return "Just resize";
    case ResizeMode::CropAndResize:
      return "Crop and resize";
    case ResizeMode::ResizeAndFill:
      return "Resize and fill";
  }
  return "";
}

void GenerationParams::validate() const {
  if (!(strength >= 0.0 && strength <= 1.0))
    throw Error("--strength must be between 0 and 1, got " + std::to_string(strength));
  if (steps < 1) throw Error("--steps must be at least 1, got " + std::to_string(steps));
  if (steps > 1000) throw Error("--steps must be at most 1000, got " + std::to_string(steps));
  if (!(cfg_scale >= 0.0)) throw Error("--cfg-scale must not be negative, got " + std::to_string(cfg_scale));
  for (auto [name, v] : {std::pair{"--width", width}, {"--height", height}}) {
    if (v < 0 || (v == 0 && init_image.empty()))
      throw Error(std::string(name) + " must be a positive number of pixels, got " + std::to_string(v));
    if (v > kMaxGenerationSide)
      throw Error(std::string(name) + " " + std::to_string(v) + " is too large (at most " +
                  std::to_string(kMaxGenerationSide) + ")");
  }
  if (clip_skip < 1 || clip_skip > 12)
    throw Error("--clip-skip must be between 1 and 12, got " + std::to_string(clip_skip));
  if (batch_count < 1) throw Error("--batch-count must be at least 1");
  if (batch_size < 1 || batch_size > 64) throw Error("--batch-size must be between 1 and 64");
  if (mask_options.blur < 0 || mask_options.blur > 256)
    throw Error("--mask-blur must be between 0 and 256, got " + std::to_string(mask_options.blur));
  if (mask_options.padding < 0)
    throw Error("--padding must not be negative, got " + std::to_string(mask_options.padding));
  for (size_t i = 0; i < controls.size(); ++i) {
    const ControlParams& c = controls[i];
    const std::string who = "ControlNet " + std::to_string(i) + ": ";
    if (c.image.empty()) throw Error(who + "no control image (--control IMAGE)");
    if (c.model.empty()) throw Error(who + "no model (--control-model PATH, one per --control)");
    if (!(c.guidance_start >= 0 && c.guidance_start <= 1) || !(c.guidance_end >= 0 && c.guidance_end <= 1))
      throw Error(who + "--control-start and --control-end must be between 0 and 1");
    if (c.guidance_start > c.guidance_end) throw Error(who + "--control-start is after --control-end");
    if (c.preprocess != "none" && c.preprocess != "canny")
      throw Error(who + "unknown preprocessor '" + c.preprocess + "' (none or canny)");
    if (c.canny_low < 0 || c.canny_high < 0 || c.canny_low > 255 * 8 || c.canny_high > 255 * 8)
      throw Error(who + "Canny thresholds must be between 0 and 2040");
  }
  if (seed < -1 || seed > 4294967295LL) throw Error("--seed must be -1 (random) or between 0 and 4294967295");
}

}  // namespace i2i
