// Merging LoRAs into a model's prepared layers, as kohya's merge_to, A1111's network_lora and diffusers'
// fuse_lora do: for every module a LoRA changes,
//   W' = W + float32(multiplier * alpha / rank) * (up @ down)      (float32; a conv's up [out, r, 1, 1] and
//                                                                   down [r, in, kh, kw] flattened)
// with the text-encoder multiplier for the text encoders and the UNet multiplier for the UNet; several
// LoRAs add their deltas one after the other in order. W is always the layer's ORIGINAL weight (its
// Linear::Source, the mapped file's tensors), and the layer is then prepared again at its own precision
// (bf16 included) - so nothing is reloaded, nothing drifts, and removing every LoRA gives back the original
// layers bit for bit. CLIP's q / k / v LoRAs change row blocks of the fused q/k/v layer.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "models/layer_visitor.h"
#include "models/lora_file.h"
#include "models/lora_targets.h"

namespace i2i {

// Adds float32(scale) * (up @ down) of `m` to `weight` (float32 of the layer's weight shape, or [out, cols]
// with the kernel flattened into cols), in place.
void add_lora_delta(Tensor& weight, const LoraModule& m, float scale);

// One LoRA of a request with its multipliers (A1111 <lora:name:te:unet>).
struct LoraUse {
  std::shared_ptr<const LoraFile> file;
  double te_multiplier = 1.0;
  double unet_multiplier = 1.0;
};

class LoraLayers {
 public:
  // See LoraTargets for the arguments.
  LoraLayers(std::string model, std::string family, int unet_layers_per_block);
  // Registers every layer `visit` hands out (now) as a layer of `component`. The layers must stay where they
  // are while this object is used (a model held in place, as a ModelSet holds its model).
  void add_component(LoraComponent component, const std::function<void(const LayerVisitor&)>& visit);
  const LoraTargets& targets() const { return targets_; }

  // Makes the layers carry exactly `uses`, in order (empty: none). Every layer the previous call changed
  // and this one does not is rebuilt from its source; every layer this one changes is rebuilt from its
  // source plus the deltas. All files are resolved (every key matched and shape-checked) before any layer
  // changes, so a bad file leaves the model as it was; should rebuilding fail half-way (memory), every layer
  // goes back to its original (one that cannot be rebuilt either is retried by the next apply) and the error
  // is rethrown.
  void apply(const std::vector<LoraUse>& uses);
  // Merges the current LoRAs (the last apply's) again into every layer of `component` they change, from
  // the layer's source: for layers that were rebuilt from their sources behind this object's back (the text
  // encoders after release_text_encoders / prepare_text_encoders, pipelines/sd_model.h). Should it fail
  // (memory), the caller releases those layers again (a layer without its LoRA must not run as if it had it).
  void remerge(LoraComponent component);
  // How many layers differ from their originals now.
  size_t changed_layers() const { return changed_.size(); }

 private:
  using Deltas = std::map<size_t, std::vector<std::pair<LoraAssignment, float>>>;  // slot -> deltas in order
  Deltas resolve_deltas(const std::vector<LoraUse>& uses) const;
  // Rebuilds slot `slot` from its source plus `deltas`.
  void merge(size_t slot, const std::vector<std::pair<LoraAssignment, float>>& deltas);

  struct Block {
    size_t slot = 0;
    int64_t row_begin = 0;  // the block's first row in the layer's (stacked) weight
  };
  std::vector<LayerRef> slots_;
  std::vector<LoraComponent> slot_components_;  // index: slot
  std::vector<LoraUse> uses_;                   // what the layers carry now
  std::vector<Block> blocks_;                   // index: target index
  std::set<size_t> changed_;                    // slots
  Tensor merge_buffer_;  // the merged weight of one layer at a time, during apply / remerge (then freed)
  LoraTargets targets_;
};

}  // namespace i2i
