#include "preprocess/annotator_lookup.h"

#include <algorithm>
#include <map>

#include "core/error.h"
#include "models/model_names.h"
#include "models/models_folder.h"
#include "preprocess/control_preprocessors.h"

namespace i2i {
namespace fs = std::filesystem;

namespace {

constexpr int kMaxDepth = 6;

// The files below `folder` (at most kMaxDepth levels, hidden entries skipped) whose names are in `names`,
// by name; the first found in path order for each.
std::map<std::string, fs::path> files_named(const fs::path& folder, const std::vector<std::string>& names) {
  std::map<std::string, fs::path> found;
  std::vector<fs::path> all;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(folder, fs::directory_options::follow_directory_symlink, ec), end;
       !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.empty() || name[0] == '.') {
      it.disable_recursion_pending();
      continue;
    }
    if (it.depth() >= kMaxDepth) it.disable_recursion_pending();
    std::error_code e2;
    if (fs::is_regular_file(it->path(), e2)) all.push_back(it->path());
  }
  std::sort(all.begin(), all.end());
  for (const fs::path& p : all)
    for (const std::string& n : names)
      if (p.filename() == n && !found.count(n)) found[n] = p;
  return found;
}

std::string join(const std::vector<std::string>& parts) {
  std::string out;
  for (const std::string& s : parts) out += (out.empty() ? "" : ", ") + s;
  return out;
}

}  // namespace

std::vector<fs::path> annotator_search_folders(const std::string& models_dir) {
  const fs::path root = models_folder(models_dir);
  std::vector<fs::path> out;
  if (root.empty()) return out;
  for (const std::string& sub : model_kind_subfolders(ModelKind::Annotator)) out.push_back(root / sub);
  fs::path normal = root.lexically_normal();
  if (!normal.has_filename()) normal = normal.parent_path();
  const fs::path up = normal.parent_path();
  if (up.empty()) return out;
  out.push_back(up / "extensions" / "sd-webui-controlnet" / "annotator" / "downloads");
  // The custom nodes' ckpts/ folders that exist (model_kind_folders lists them), else the pattern.
  bool any_node = false;
  for (const fs::path& f : model_kind_folders(ModelKind::Annotator, root))
    if (f.parent_path().parent_path() == up / "custom_nodes") {
      out.push_back(f);
      any_node = true;
    }
  if (!any_node) out.push_back(up / "custom_nodes" / "*" / "ckpts");
  return out;
}

fs::path resolve_annotator_model(std::string_view preprocessor, const std::string& given,
                                 const std::string& models_dir) {
  const ControlPreprocessor& row = control_preprocessor(preprocessor);
  if (!given.empty()) return resolve_model_file(ModelKind::Annotator, given, models_dir, "annotator_model");
  if (!row.needs_annotator) return {};

  const fs::path root = models_folder(models_dir);
  const std::vector<fs::path> folders = model_kind_folders(ModelKind::Annotator, root);
  std::vector<std::string> safetensors, pickles;
  for (const std::string& stem : row.annotator_files) {
    safetensors.push_back(stem + ".safetensors");
    pickles.push_back(stem + ".pth");
    pickles.push_back(stem + ".pt");
  }
  std::vector<std::string> names = safetensors;
  names.insert(names.end(), pickles.begin(), pickles.end());
  std::vector<std::map<std::string, fs::path>> found;
  for (const fs::path& folder : folders) found.push_back(files_named(folder, names));
  // A converted file anywhere wins over a pickle; then the row's order of names, then the folders'.
  for (const std::vector<std::string>* wanted : {&safetensors, &pickles})
    for (const std::string& n : *wanted)
      for (const auto& in_folder : found)
        if (auto it = in_folder.find(n); it != in_folder.end()) return it->second;

  std::vector<std::string> where;
  for (const fs::path& f : annotator_search_folders(models_dir)) where.push_back(f.string());
  throw ParameterError(
      std::string("preprocessor ") + row.name + " runs a network: give its file with {annotator_model}" +
      Error::literal(" (no " + join(safetensors) + " or .pth found in " +
                     (where.empty() ? std::string("a models folder: neither --models-dir, I2I_MODELS_DIR nor "
                                                  "HOME is set")
                                    : join(where)) +
                     ")"));
}

}  // namespace i2i
