#include "models/clip_vision_load.h"

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/config_file.h"
#include "io/safetensors.h"

namespace i2i {

ClipVisionEncoder load_clip_vision_folder(const std::filesystem::path& dir, Precision precision) {
  std::error_code ec;
  check(std::filesystem::is_directory(dir, ec),
        "image encoder folder " + dir.string() + " does not exist or is not a folder");
  const nlohmann::json cfg = read_config_json(dir / "config.json");
  std::filesystem::path weights_path = dir / "model.safetensors";
  if (!std::filesystem::exists(weights_path, ec) &&
      std::filesystem::exists(dir / "model.fp16.safetensors", ec))
    weights_path = dir / "model.fp16.safetensors";
  if (!std::filesystem::exists(weights_path, ec)) {
    const bool bin = std::filesystem::exists(dir / "pytorch_model.bin", ec);
    throw Error(dir.string() + ": no model.safetensors" +
                (bin ? " (pytorch_model.bin is not read: convert it to safetensors)" : ""));
  }
  const SafeTensors file = SafeTensors::open(weights_path);
  Weights w(weights_path.string());
  for (const std::string& name : file.names())
    if (name.compare(0, 13, "vision_model.") == 0 || name == "visual_projection.weight")
      w.add(name, file.get(name));

  bool with_projection = w.has("visual_projection.weight");
  auto arch = cfg.find("architectures");
  if (arch != cfg.end() && arch->is_array()) {
    with_projection = false;
    for (const auto& a : *arch)
      if (a.is_string() &&
          (a.get<std::string>() == "CLIPVisionModelWithProjection" || a.get<std::string>() == "CLIPModel"))
        with_projection = true;
  }
  const ClipVisionConfig c = infer_clip_vision_config(w, &cfg, with_projection);
  return ClipVisionEncoder(w, c, precision);
}

}  // namespace i2i
