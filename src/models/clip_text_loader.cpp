#include "models/clip_text_loader.h"

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/config_file.h"
#include "models/openclip_text_keys.h"

namespace i2i {

namespace {

// The tensors of `file` under `prefix`, named without it (messages still show the full names).
Weights weights_under(const SafeTensors& file, const std::string& prefix) {
  Weights all(file.path().string());
  for (const std::string& name : file.names())
    if (name.compare(0, prefix.size(), prefix) == 0) all.add(name, file.get(name));
  return all.sub(prefix);
}

}  // namespace

const ClipTextLayout& clip_text_layout(ClipTextSlot slot) {
  static const ClipTextLayout layouts[] = {
      {"cond_stage_model.transformer.", false, 0, false, ClipActivation::QuickGelu, "SD 1.x text encoder"},
      {"cond_stage_model.model.", true, 1, false, ClipActivation::Gelu, "SD 2.x text encoder"},
      {"conditioner.embedders.0.transformer.", false, 0, false, ClipActivation::QuickGelu,
       "SDXL text encoder 1"},
      {"conditioner.embedders.1.model.", true, 0, true, ClipActivation::Gelu, "SDXL text encoder 2"},
      {"conditioner.embedders.0.model.", true, 0, true, ClipActivation::Gelu, "SDXL refiner text encoder"},
  };
  return layouts[static_cast<int>(slot)];
}

std::vector<ClipTextSlot> find_clip_text_slots(const SafeTensors& file) {
  std::vector<ClipTextSlot> found;
  for (ClipTextSlot s : {ClipTextSlot::SD1, ClipTextSlot::SD2, ClipTextSlot::SDXL1, ClipTextSlot::SDXL2,
                         ClipTextSlot::SDXLRefiner}) {
    const ClipTextLayout& l = clip_text_layout(s);
    const char* key = l.openclip ? "token_embedding.weight" : "text_model.embeddings.token_embedding.weight";
    if (file.contains(std::string(l.prefix) + key)) found.push_back(s);
  }
  return found;
}

LoadedClipText load_clip_text(const SafeTensors& file, ClipTextSlot slot, const nlohmann::json* hf_config,
                              Precision precision, const std::string& config_origin) {
  const ClipTextLayout& layout = clip_text_layout(slot);
  Weights stored = weights_under(file, layout.prefix);
  check(stored.size() != 0,
        file.path().string() + ": no " + layout.name + " (no tensors under '" + layout.prefix + "')");
  LoadedClipText r;
  Weights hf;
  if (layout.openclip) {
    r.stored_layers = count_openclip_blocks(stored);
    check(r.stored_layers > layout.unused_last_blocks,
          file.path().string() + ": " + layout.name + " has " + std::to_string(r.stored_layers) +
              " blocks under '" + layout.prefix + "transformer.resblocks.', expected more than " +
              std::to_string(layout.unused_last_blocks));
    r.unused_layers = layout.unused_last_blocks;
    hf = openclip_text_to_hf(stored, r.stored_layers - r.unused_layers, layout.with_projection);
  } else {
    r.stored_layers = count_clip_layers(stored);
    r.unused_layers = layout.unused_last_blocks;
    hf = std::move(stored);
  }
  const int used = r.stored_layers - r.unused_layers;
  ClipTextConfig config = infer_clip_text_config(
      hf, hf_config, layout.default_activation, layout.with_projection, used, hf_config ? config_origin : "");
  r.encoder = ClipTextEncoder(hf, config, precision);
  return r;
}

LoadedClipText load_clip_text_folder(const std::filesystem::path& dir, Precision precision) {
  const nlohmann::json cfg = read_config_json(dir / "config.json");
  std::filesystem::path weights_path = dir / "model.safetensors";
  if (!std::filesystem::exists(weights_path) && std::filesystem::exists(dir / "model.fp16.safetensors"))
    weights_path = dir / "model.fp16.safetensors";
  check(std::filesystem::exists(weights_path),
        dir.string() + ": no model.safetensors (only safetensors weights are supported)");
  const SafeTensors file = SafeTensors::open(weights_path);
  Weights w = weights_under(file, "");

  bool with_projection = w.has("text_projection.weight");
  auto arch = cfg.find("architectures");
  if (arch != cfg.end() && arch->is_array()) {
    with_projection = false;
    for (const auto& a : *arch)
      if (a.is_string() && a.get<std::string>() == "CLIPTextModelWithProjection") with_projection = true;
  }
  LoadedClipText r;
  r.stored_layers = count_clip_layers(w);
  ClipTextConfig config = infer_clip_text_config(w, &cfg, ClipActivation::QuickGelu, with_projection, -1,
                                                 (dir / "config.json").string());
  r.encoder = ClipTextEncoder(w, config, precision);
  return r;
}

}  // namespace i2i
