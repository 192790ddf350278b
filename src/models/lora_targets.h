// Which layer of a model each module of a LoRA file changes. The lookup is built from the model's own
// module names, as A1111's extensions-builtin/Lora does (kohya names write '.' as '_', and the names hold
// '_' themselves, so a key is never split): every layer answers to its diffusers / Hugging Face path in
// both spellings, and UNet layers also to their single-file (LDM / sgm) path, which kohya's SDXL files use
// ("lora_unet_input_blocks_4_1_transformer_blocks_0_attn1_to_q"). diffusers' LoraLoaderMixin.lora_state_dict
// maps the fixtures' files the same way.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "models/lora_file.h"

namespace i2i {

struct LoraTarget {
  LoraComponent component = LoraComponent::Unet;
  std::string module;  // diffusers / Hugging Face module path ("mid_block.attentions.0.proj_in")
  // The weight's shape: [out, in] for a Linear (a 1x1 convolution run as one included), [out, in, kh, kw]
  // for a convolution.
  Shape shape;
};

// One module of a LoRA file on the layer it changes.
struct LoraAssignment {
  const LoraModule* module = nullptr;
  size_t target = 0;  // index into LoraTargets::targets()
};

class LoraTargets {
 public:
  // `model` names the model in messages (a file name); `family` is "SD 1.x", "SD 2.x" or "SDXL";
  // `unet_layers_per_block` (resnets per UNet down block) lets UNet layers answer to single-file names.
  LoraTargets(std::string model, std::string family, int unet_layers_per_block);

  // A layer LoRAs may change; returns its index.
  size_t add(LoraComponent component, const std::string& module, const Shape& shape);
  const std::vector<LoraTarget>& targets() const { return targets_; }
  const std::string& family() const { return family_; }

  // The layer each module of `file` changes, in the file's order. Throws a one-line i2i::Error naming the
  // file for: a LoRA made for another family ("<file> is an SDXL LoRA, the model is SD 1.x"), a module that
  // matches no layer of the model (naming its key), a module whose shapes do not fit its layer (naming the
  // key, its down and up shapes and the layer's weight shape).
  std::vector<LoraAssignment> resolve(const LoraFile& file) const;

 private:
  std::string model_, family_;
  int layers_per_block_;
  std::vector<LoraTarget> targets_;
  // Per component: "d:<dotted path>" / "u:<path with '_'>" -> target index.
  std::map<std::string, size_t> lookup_[3];
};

}  // namespace i2i
