// The LoRAs of a request, as AUTOMATIC1111 takes them (modules/extra_networks.py, extensions-builtin/Lora):
// `<lora:NAME:MULT>` or `<lora:NAME:TE_MULT:UNET_MULT>` (also te=/unet= named, and the `lyco` alias) in the
// prompt, NAME being a file name without extension in the LoRA folder (models_folder.h lora_folder; a
// diffusers LoRA folder of that name stands for its pytorch_lora_weights.safetensors; sub-folders are
// searched as A1111 does), plus GenerationParams::loras given by file. Every extra-network tag is removed
// from the text before it is encoded, exactly as re.sub(r"<(\w+):([^>]+)>", "", prompt); the negative
// prompt is left as it is (A1111 parses only the prompt). The parameters text keeps the prompt as typed and
// adds `Lora hashes: "name: hash, ..."` (A1111's lora_add_hashes_to_infotext).
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "models/lora_apply.h"
#include "pipelines/generation_params.h"
#include "pipelines/sd_model.h"

namespace i2i {

// One <NETWORK:ARG:ARG...> tag: the network ("lora", "hypernet", ...) and its ':'-separated arguments.
struct ExtraNetworkTag {
  std::string network;
  std::vector<std::string> args;
};

// `prompt` with every extra-network tag removed (Python's \w taken as ASCII letters, digits, '_' and every
// non-ASCII byte); the tags, in order, into `tags` when given.
std::string remove_extra_networks(const std::string& prompt, std::vector<ExtraNetworkTag>* tags = nullptr);

struct RequestLora {
  std::string name;            // as the parameters text names it: the tag's NAME, or the file's stem
  std::filesystem::path file;  // the .safetensors file
  double te_multiplier = 1.0;
  double unet_multiplier = 1.0;
};

// The weights file of a LoRA given by path: the file itself, or a diffusers LoRA folder's
// pytorch_lora_weights.safetensors. Throws i2i::Error naming the path when there is none.
std::filesystem::path lora_weights_file(const std::filesystem::path& path);
// The LoRA called `name` in `folder`: NAME.safetensors, a NAME/ diffusers folder, or either in a
// sub-folder. Throws i2i::Error naming the name and the folder searched.
std::filesystem::path find_lora(const std::string& name, const std::filesystem::path& folder);

// p.loras, then the <lora:...> tags of p.prompt, in order. Throws ParameterError for a tag whose multiplier
// is no number, i2i::Error for a name that is not in the LoRA folder or a file that does not exist.
std::vector<RequestLora> request_loras(const GenerationParams& p);
// The tags the parameters text appends to the prompt for p.loras ("<lora:stem:0.8>").
std::string lora_param_tags(const GenerationParams& p);
// `Lora hashes` of the parameters text: "name: hash, name: hash" (A1111 removes ':' and ',' from names);
// "" without LoRAs. A file that cannot be read gets no entry.
std::string lora_hashes(const std::vector<RequestLora>& loras);

// The layers of `model` that LoRAs may change: its UNet's and text encoder's (lora_apply.h). `model` must
// stay where it is while the result is used.
std::unique_ptr<LoraLayers> model_lora_layers(SdModel& model);

}  // namespace i2i
