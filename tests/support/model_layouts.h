// Fixture models re-saved in the other single-file layouts A1111 loads (issue 19), built at test time in a
// scratch folder by renaming tensors: no value changes, so a loader that maps the names back must give the
// original file's outputs bit for bit. The fixtures themselves are only read.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <string>

#include "core/tensor.h"

namespace i2i::test {

using Rename = std::function<std::string(const std::string&)>;

// The fixture model file `file` (e.g. "tiny-sd2v.fp16.safetensors") written to `dir` under the same file
// name, each tensor renamed by `rename` and, where `replace` names it (by its stored name), given another
// value; with its `.json` sidecar linked beside it. A link already there (link_model) is replaced, never
// written through. Returns the new file's path.
std::filesystem::path write_model_copy(const std::string& file, const std::filesystem::path& dir,
                                       const Rename& rename,
                                       const std::map<std::string, Tensor>& replace = {});
// A symbolic link `dir`/`file` to the fixture model file, with its sidecar linked beside it: the original
// at the path its renamed copy will take, so that outputs recording the model's path can be compared.
std::filesystem::path link_model(const std::string& file, const std::filesystem::path& dir);

// LDM names -> SD 1.x CLIP's older names: cond_stage_model.transformer.text_model.X ->
// cond_stage_model.transformer.X (the files A1111's checkpoint_dict_replacements_sd1 reads).
std::string to_old_clip_names(const std::string& name);
// LDM names -> SGM names of an SD 2.x file (SD-Turbo's): cond_stage_model.X -> conditioner.embedders.0.X.
std::string to_sgm_names(const std::string& name);
// Names kept as stored.
std::string same_names(const std::string& name);

// The model's UNet input convolution widened to 9 input channels (an inpainting UNet as far as the family
// detection is concerned): the `replace` argument for write_model_copy.
std::map<std::string, Tensor> nine_channel_unet_input(const std::string& file);

}  // namespace i2i::test
