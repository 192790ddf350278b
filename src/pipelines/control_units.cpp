#include "pipelines/control_units.h"

#include <cmath>

#include "core/error.h"
#include "pipelines/latent_ops.h"

namespace i2i {

void validate_control_unit(const ControlUnit& u, int64_t height, int64_t width) {
  const std::string who = "ControlNet " + (u.name.empty() ? std::string("unit") : u.name);
  check(u.model != nullptr, who + ": no model");
  check(std::isfinite(u.weight), who + ": the weight must be a finite number");
  check(u.guidance_start >= 0 && u.guidance_start <= 1 && u.guidance_end >= 0 && u.guidance_end <= 1,
        who + ": guidance start and end must be between 0 and 1");
  check(u.guidance_start <= u.guidance_end, who + ": guidance start is after guidance end");
  check(u.image.ndim() == 4 && u.image.dim(0) == 1 && u.image.dim(3) == 3,
        who + ": the control image must be [1, H, W, 3]");
  check(u.image.dim(1) == height && u.image.dim(2) == width,
        who + ": the control image is " + std::to_string(u.image.dim(2)) + "x" +
            std::to_string(u.image.dim(1)) + ", the generation " + std::to_string(width) + "x" +
            std::to_string(height));
}

bool control_active(const ControlUnit& unit, int i, int n) {
  const double a = static_cast<double>(i) / n, b = static_cast<double>(i + 1) / n;
  return !(a < unit.guidance_start || b > unit.guidance_end);
}

std::optional<UNetResiduals> control_residuals(const std::vector<ControlUnit>& units, const Tensor& sample,
                                               float timestep, const Tensor& context, int i, int n) {
  std::optional<UNetResiduals> sum;
  for (const ControlUnit& u : units) {
    if (!control_active(u, i, n)) continue;
    UNetResiduals r = u.model->forward(sample, {timestep}, context, u.image, static_cast<float>(u.weight));
    if (!sum) {
      sum = std::move(r);
      continue;
    }
    for (size_t k = 0; k < r.down.size(); ++k) sum->down[k] = add_tensors(sum->down[k], r.down[k]);
    sum->mid = add_tensors(sum->mid, r.mid);
  }
  return sum;
}

}  // namespace i2i
