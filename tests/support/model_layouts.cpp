#include "support/model_layouts.h"

#include <utility>
#include <vector>

#include "io/safetensors.h"
#include "support/fixtures.h"

namespace i2i::test {
namespace {

std::string replace_prefix(const std::string& name, const std::string& from, const std::string& to) {
  return name.compare(0, from.size(), from) == 0 ? to + name.substr(from.size()) : name;
}

// Links the sidecar of fixture model `file` into `dir`: <stem>.json, or <model>.json for
// <model>.fp16.safetensors (where open_checkpoint looks).
void link_sidecar(const std::string& file, const std::filesystem::path& dir) {
  std::filesystem::path stem = std::filesystem::path(file).stem();
  if (!std::filesystem::exists(models_dir() / (stem.string() + ".json"))) stem = stem.stem();
  const std::string sidecar = stem.string() + ".json";
  if (std::filesystem::exists(models_dir() / sidecar) && !std::filesystem::exists(dir / sidecar))
    std::filesystem::create_symlink(models_dir() / sidecar, dir / sidecar);
}

}  // namespace

std::filesystem::path write_model_copy(const std::string& file, const std::filesystem::path& dir,
                                       const Rename& rename, const std::map<std::string, Tensor>& replace) {
  const SafeTensors original = SafeTensors::open(models_dir() / file);
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (const std::string& name : original.names()) {
    auto it = replace.find(name);
    tensors.emplace_back(rename(name), it != replace.end() ? it->second : original.get(name));
  }
  const std::filesystem::path out = dir / file;
  std::filesystem::remove(out);  // a link to the fixture goes; the fixture stays as it is
  write_safetensors(out, tensors, original.metadata());
  link_sidecar(file, dir);
  return out;
}

std::filesystem::path link_model(const std::string& file, const std::filesystem::path& dir) {
  const std::filesystem::path out = dir / file;
  std::filesystem::remove(out);
  std::filesystem::create_symlink(models_dir() / file, out);
  link_sidecar(file, dir);
  return out;
}

std::string to_old_clip_names(const std::string& name) {
  return replace_prefix(name, "cond_stage_model.transformer.text_model.", "cond_stage_model.transformer.");
}

std::string to_sgm_names(const std::string& name) {
  return replace_prefix(name, "cond_stage_model.", "conditioner.embedders.0.");
}

std::string same_names(const std::string& name) {
  return name;
}

std::map<std::string, Tensor> nine_channel_unet_input(const std::string& file) {
  const std::string key = "model.diffusion_model.input_blocks.0.0.weight";
  const Shape shape = SafeTensors::open(models_dir() / file).info(key).shape;
  return {{key, Tensor::zeros({shape[0], 9, shape[2], shape[3]})}};
}

}  // namespace i2i::test
