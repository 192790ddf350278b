#include "server/model_catalog.h"

#include <algorithm>
#include <map>

#include "models/model_hash.h"
#include "models/model_names.h"

namespace i2i::server {
namespace fs = std::filesystem;
namespace {

bool is_weights_folder(const fs::path& dir) {
  std::error_code ec;
  return fs::exists(dir / "model_index.json", ec) || fs::exists(dir / "config.json", ec) ||
         fs::is_directory(dir / "unet", ec);
}

std::vector<CatalogModel> list_folder(const std::vector<fs::path>& folders) {
  std::vector<CatalogModel> out;
  for (const fs::path& folder : folders) {
    std::error_code ec;
    if (!fs::is_directory(folder, ec)) continue;
    std::vector<fs::path> entries;
    for (fs::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec))
      entries.push_back(it->path());
    std::sort(entries.begin(), entries.end());
    for (const fs::path& p : entries) {
      const bool file = fs::is_regular_file(p, ec) && p.extension() == ".safetensors";
      if (!file && !(fs::is_directory(p, ec) && is_weights_folder(p))) continue;
      out.push_back({p, model_stem(p), p.filename().string()});
    }
  }
  return out;
}

// "name [hash]" -> {"name", "hash"}; no brackets: {title, ""}.
std::pair<std::string, std::string> split_title(const std::string& title) {
  const size_t open = title.rfind(" [");
  if (open == std::string::npos || title.empty() || title.back() != ']') return {title, ""};
  return {title.substr(0, open), title.substr(open + 2, title.size() - open - 3)};
}

std::optional<CatalogModel> find_in(const std::vector<CatalogModel>& models, const std::string& title) {
  const auto [name, hash] = split_title(title);
  for (const CatalogModel& m : models) {
    if (name != m.name && name != m.filename) continue;
    try {
      if (!hash.empty() && !model_hash_matches(m.path, hash)) continue;
    } catch (const std::exception&) {
      continue;  // unreadable: not this one
    }
    return m;
  }
  return std::nullopt;
}

}  // namespace

ModelCatalog::ModelCatalog(fs::path models_dir, fs::path startup_model)
    : models_dir_(std::move(models_dir)), startup_model_(std::move(startup_model)) {}

std::vector<CatalogModel> ModelCatalog::checkpoints() const {
  std::vector<CatalogModel> out;
  std::error_code ec;
  if (!startup_model_.empty())
    out.push_back({startup_model_, model_stem(startup_model_), startup_model_.filename().string()});
  for (CatalogModel& m : list_folder({models_dir_ / "Stable-diffusion"})) {
    const bool same = !out.empty() && fs::equivalent(out[0].path, m.path, ec);
    if (!same) out.push_back(std::move(m));
  }
  return out;
}

std::vector<CatalogModel> ModelCatalog::controlnets() const {
  return list_folder({models_dir_ / "ControlNet", models_dir_ / "controlnet"});
}

std::vector<CatalogModel> ModelCatalog::ip_adapters() const {
  std::vector<CatalogModel> out;
  for (CatalogModel& m :
       list_folder({models_dir_ / "ipadapter", models_dir_ / "ControlNet", models_dir_ / "controlnet"})) {
    std::error_code ec;
    if (fs::is_regular_file(m.path, ec)) out.push_back(std::move(m));  // (an adapter is one file)
  }
  return out;
}

std::optional<CatalogModel> ModelCatalog::find_checkpoint(const std::string& title) const {
  return find_in(checkpoints(), title);
}

std::optional<CatalogModel> ModelCatalog::find_controlnet(const std::string& title) const {
  return find_in(controlnets(), title);
}

std::optional<CatalogModel> ModelCatalog::find_ip_adapter(const std::string& title) const {
  return find_in(ip_adapters(), title);
}

std::optional<fs::path> ModelCatalog::find_annotator(const std::string& preprocessor) const {
  // (A1111's sd-webui-controlnet downloads: annotator/downloads/<kind>/<file>.pth)
  static const std::map<std::string, std::vector<std::string>> kFiles = {
      {"depth_anything_v2",
       {"depth_anything_v2_vitl.safetensors", "depth_anything_v2_vitb.safetensors",
        "depth_anything_v2_vits.safetensors"}},
      {"openpose", {"body_pose_model.safetensors"}},
      {"lineart_realistic", {"sk_model.safetensors"}},
      {"lineart_coarse", {"sk_model2.safetensors"}},
      {"softedge_hed", {"ControlNetHED.safetensors"}},
      {"softedge_hedsafe", {"ControlNetHED.safetensors"}}};
  auto it = kFiles.find(preprocessor);
  if (it == kFiles.end()) return std::nullopt;
  const std::vector<fs::path> entries = list_model_entries(models_dir_ / "annotators");
  for (const std::string& name : it->second)
    for (const fs::path& e : entries) {
      std::error_code ec;
      if (e.filename() == name && fs::is_regular_file(e, ec)) return e;
    }
  return std::nullopt;
}

std::string checkpoint_title(const CatalogModel& m) {
  return m.filename + " [" + model_short_hash(m.path) + "]";
}

std::string controlnet_title(const CatalogModel& m) {
  return m.name + " [" + controlnet_short_hash(m.path) + "]";
}

}  // namespace i2i::server
