// ControlNet units in the denoising loop: which units steer a step (guidance start / end as fractions of
// the steps run, as diffusers' controlnet_keep) and the sum of their scaled residuals.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "models/controlnet.h"

namespace i2i {

struct ControlUnit {
  const ControlNet* model = nullptr;  // not owned
  std::string name;                   // the ControlNet's file, for messages
  Tensor image;                       // [1, H, W, 3] in [0, 1] at the generation size (control_image_tensor)
  double weight = 1.0;                // controlnet_conditioning_scale
  double guidance_start = 0.0;        // fraction of the steps run before the unit starts
  double guidance_end = 1.0;          // fraction of the steps run after which it stops
};

// Throws i2i::Error naming the unit for a missing model, a weight that is not finite, start / end outside
// [0, 1] or start > end, or a control image that is not [1, height, width, 3].
void validate_control_unit(const ControlUnit& unit, int64_t height, int64_t width);

// diffusers: the unit is active at step `i` (0-based among `n` steps run) unless i / n < start or
// (i + 1) / n > end.
bool control_active(const ControlUnit& unit, int i, int n);

// The summed residuals of the active units for one UNet call (sample = the scaled model input, CFG-doubled
// when guidance is on; context to match), or nullopt when no unit is active.
std::optional<UNetResiduals> control_residuals(const std::vector<ControlUnit>& units, const Tensor& sample,
                                               float timestep, const Tensor& context, int i, int n);

}  // namespace i2i
