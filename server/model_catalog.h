// The models a request may name, all inside the server's models folder (A1111's layout): checkpoints under
// `Stable-diffusion/` (and the one given with --model), ControlNets under `ControlNet/`, IP-Adapters under
// `ipadapter/` or `ControlNet/` (where A1111's ControlNet extension keeps them), and the annotator networks
// of the ControlNet preprocessors under `annotators/`, found by the file names the extension downloads
// them as (converted to .safetensors: i2i never unpickles a .pth). A request names a
// model only as A1111 lists it ("tiny-sd15", "tiny-sd15.safetensors [1a2b3c4d5e]", "control_x [d14c016b]");
// nothing a request sends is ever used as a path.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace i2i::server {

struct CatalogModel {
  std::filesystem::path path;
  std::string name;      // A1111's model_name: the file name without extension (model_stem)
  std::string filename;  // the file (or folder) name with its extension
};

class ModelCatalog {
 public:
  // `startup_model`: the model given with --model (listed first even when outside the folder).
  ModelCatalog(std::filesystem::path models_dir, std::filesystem::path startup_model);
  const std::filesystem::path& models_dir() const { return models_dir_; }
  // Checkpoints (.safetensors files and diffusers folders), listed afresh on every call.
  std::vector<CatalogModel> checkpoints() const;
  std::vector<CatalogModel> controlnets() const;
  // IP-Adapter files (.safetensors) in ipadapter/, then ControlNet/.
  std::vector<CatalogModel> ip_adapters() const;
  // The entry `title` names: its name, file name, A1111 title "file [hash]" or "name [hash]" (the hash,
  // 8 or 10+ hex digits, must then match). nullopt when none does.
  std::optional<CatalogModel> find_checkpoint(const std::string& title) const;
  std::optional<CatalogModel> find_controlnet(const std::string& title) const;
  std::optional<CatalogModel> find_ip_adapter(const std::string& title) const;
  // The annotator file of a preprocessor (control_preprocessors.h's name) in annotators/ or its subfolders:
  // depth_anything_v2 -> depth_anything_v2_vit{l,b,s}.safetensors, openpose -> body_pose_model,
  // lineart_realistic -> sk_model, lineart_coarse -> sk_model2, softedge_hed(safe) -> ControlNetHED.
  // nullopt when there is none (or the preprocessor runs no network).
  std::optional<std::filesystem::path> find_annotator(const std::string& preprocessor) const;

 private:
  std::filesystem::path models_dir_, startup_model_;
};

// A1111's checkpoint title: "file.safetensors [short hash]".
std::string checkpoint_title(const CatalogModel& m);
// The ControlNet extension's model title: "name [8-digit hash]".
std::string controlnet_title(const CatalogModel& m);

}  // namespace i2i::server
