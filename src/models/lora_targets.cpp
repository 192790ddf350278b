#include "models/lora_targets.h"

#include <algorithm>

#include "core/error.h"
#include "models/ldm_keys.h"

namespace i2i {

namespace {

std::string underscored(std::string s) {
  std::replace(s.begin(), s.end(), '.', '_');
  return s;
}

size_t component_index(LoraComponent c) {
  return static_cast<size_t>(c);
}

// Whether down [r, ...] and up [out, r(, 1, 1)] make an update of a weight of `shape`.
bool fits(const LoraModule& m, const Shape& shape) {
  if (m.up.dim(0) != shape[0]) return false;
  if (m.down.ndim() == 4 && shape.size() == 4)
    return m.down.dim(1) == shape[1] && m.down.dim(2) == shape[2] && m.down.dim(3) == shape[3];
  const bool pointwise_down = m.down.ndim() == 2 || (m.down.dim(2) == 1 && m.down.dim(3) == 1);
  const bool pointwise_layer = shape.size() == 2 || (shape[2] == 1 && shape[3] == 1);
  return pointwise_down && pointwise_layer && m.down.dim(1) == shape[1];
}

}  // namespace

LoraTargets::LoraTargets(std::string model, std::string family, int unet_layers_per_block)
    : model_(std::move(model)), family_(std::move(family)), layers_per_block_(unet_layers_per_block) {}

size_t LoraTargets::add(LoraComponent component, const std::string& module, const Shape& shape) {
  check(shape.size() == 2 || shape.size() == 4, "LoRA targets: layer '" + module + "' has weight " +
                                                    shape_str(shape) + ", expected 2 or 4 dimensions");
  const size_t index = targets_.size();
  targets_.push_back({component, module, shape});
  auto& lookup = lookup_[component_index(component)];
  lookup.emplace("d:" + module, index);
  lookup.emplace("u:" + underscored(module), index);
  if (component == LoraComponent::Unet)
    for (const std::string& ldm : diffusers_unet_module_to_ldm(module, layers_per_block_)) {
      lookup.emplace("d:" + ldm, index);
      lookup.emplace("u:" + underscored(ldm), index);
    }
  return index;
}

std::vector<LoraAssignment> LoraTargets::resolve(const LoraFile& file) const {
  const std::string f = file.path.string();
  if (!file.family.empty() && file.family != family_ && (file.family == "SDXL" || family_ == "SDXL"))
    throw Error(f + " is an " + file.family + " LoRA, the model is " + family_ + " (" + model_ + ")");
  std::vector<LoraAssignment> out;
  out.reserve(file.modules.size());
  for (const LoraModule& m : file.modules) {
    const auto& lookup = lookup_[component_index(m.component)];
    auto it = lookup.find((m.underscored ? "u:" : "d:") + m.name);
    if (it == lookup.end())
      throw Error(f + ": LoRA key '" + m.key + "' matches no layer of the " +
                  lora_component_name(m.component) + " of " + model_ + " (" + family_ + ")");
    const LoraTarget& t = targets_[it->second];
    if (!fits(m, t.shape))
      throw Error(f + ": LoRA key '" + m.key + "' (down " + shape_str(m.down.shape()) + ", up " +
                  shape_str(m.up.shape()) + ") does not fit the layer " + t.module + " of " + model_ +
                  " (weight " + shape_str(t.shape) + ")");
    out.push_back({&m, it->second});
  }
  return out;
}

}  // namespace i2i
