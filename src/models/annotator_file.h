// Opening the checkpoint of a ControlNet annotator (line art, HED, ...): the real files are PyTorch pickles
// (`sk_model.pth`, `ControlNetHED.pth`), which i2i never unpickles (unpickling runs code from the file); they
// are refused with the one-line command that converts them to .safetensors. A checkpoint of another kind is
// named in the error ("... is a HED soft-edge checkpoint, not a line-art one").
#pragma once

#include <filesystem>
#include <string>

#include "io/safetensors.h"
#include "models/weights.h"

namespace i2i {

// What kind of annotator (or model) the tensor names say `st` is: "line-art (sk_model)", "HED soft-edge
// (ControlNetHED)", "OpenPose body", "Depth Anything", "Stable Diffusion", "ControlNet", or "" (unknown).
std::string annotator_kind(const SafeTensors& st);

// The tensors of `file` as Weights (views of the mapped file, stored names). i2i::Error when the file is a
// pickle (.pth / .pt / .ckpt / .bin), is not a valid safetensors file, lacks the tensor `marker` that every
// checkpoint of `kind` (an annotator_kind() value) has, or holds a tensor that is not F32, F16 or BF16.
Weights load_annotator_weights(const std::filesystem::path& file, const std::string& marker,
                               const std::string& kind);

// The one-line shell command that converts the pickled checkpoint `pth` (a state dict) to a .safetensors file
// beside it, with PyTorch and the safetensors package: the paths as given, as Python literals in a shell's
// single quotes (a quote, backslash, $, backquote, ! or newline in a name survives both, also pasted into
// an interactive shell).
std::string pth_conversion_command(const std::filesystem::path& pth);

}  // namespace i2i
