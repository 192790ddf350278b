// The prepared layers of a model by diffusers module name. Models hand out their Linear / Conv2d members
// through visit_layers(prefix, visitor), so that code changing weights (LoRA, models/lora_apply.h) can put
// in their place a layer rebuilt from new weights (Linear::with_weight) or from the original ones
// (Linear::rebuilt). The forward path never looks a layer up: nothing changes there.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "kernels/conv2d.h"
#include "kernels/linear.h"

namespace i2i {

struct LayerRef {
  // The diffusers module name of each row block of the layer's weight ("mid_block.attentions.0.proj_in"):
  // one name for most layers, three for CLIP's fused q / k / v ("...self_attn.q_proj", "k_proj", "v_proj").
  std::vector<std::string> modules;
  Linear* linear = nullptr;  // exactly one of the two is set
  Conv2d* conv = nullptr;
};
using LayerVisitor = std::function<void(const LayerRef&)>;

// Calls `f` for `layer` under `name` when the layer is defined (built).
inline void visit_layer(const LayerVisitor& f, const std::string& name, Linear& layer) {
  if (layer.defined()) f(LayerRef{{name}, &layer, nullptr});
}
inline void visit_layer(const LayerVisitor& f, const std::string& name, Conv2d& layer) {
  if (layer.defined()) f(LayerRef{{name}, nullptr, &layer});
}

}  // namespace i2i
