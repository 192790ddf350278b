// Where a ControlNet preprocessor's network file is found when the user names no file: by its usual file
// name (control_preprocessors.h annotator_files, e.g. depth_anything_v2_vitl, body_pose_model) in the
// annotator folders of the models folder (models/model_names.h, ModelKind::Annotator): i2i's
// `annotators/`, Forge's `ControlNetPreprocessor/`, and beside an A1111 or ComfyUI `models/` folder the
// places their tools download annotators to: sd-webui-controlnet's
// `extensions/sd-webui-controlnet/annotator/downloads/<module>/` and controlnet_aux's
// `custom_nodes/<node>/ckpts/<org>/<repo>/`, their subfolders included. `--annotator-model` (a path, or a
// bare name looked up in the same folders) always wins. The CLI, the C API and the server all call
// resolve_annotator_model, so a unit's annotator is found the same way everywhere.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace i2i {

// The annotator file for a unit of preprocessor `preprocessor` (A1111's module name):
//   * "" when the preprocessor runs no network (none, canny) and `given` is empty;
//   * `given` when it is a path that exists, or the one annotator of that name (with or without
//     .safetensors) in the annotator folders of models_folder(models_dir);
//   * with `given` empty, the first of the preprocessor's annotator_files found as NAME.safetensors in
//     those folders (folders in the order above, file names in the row's order); when only NAME.pth (or
//     .pt) is there, that path (the loader refuses pickles with the command that converts them).
// Throws ParameterError: an unknown preprocessor ({control_preprocess}); `given` naming nothing or several
// files ({annotator_model}); nothing found, one line naming the preprocessor, the file names tried and
// every folder looked in (existing or not).
std::filesystem::path resolve_annotator_model(std::string_view preprocessor, const std::string& given,
                                              const std::string& models_dir);

// The folders resolve_annotator_model searches for `models_dir`, in order, whether or not they exist
// (messages list them): <root>/annotators, <root>/ControlNetPreprocessor,
// <root>/../extensions/sd-webui-controlnet/annotator/downloads, <root>/../custom_nodes/*/ckpts.
std::vector<std::filesystem::path> annotator_search_folders(const std::string& models_dir);

}  // namespace i2i
