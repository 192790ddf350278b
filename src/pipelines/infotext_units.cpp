#include "pipelines/infotext_units.h"

#include <filesystem>

#include "pipelines/infotext.h"

namespace i2i {
namespace fs = std::filesystem;

std::vector<std::pair<std::string, std::string>> controlnet_unit_items(const std::string& text) {
  std::vector<std::pair<std::string, std::string>> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find(", ", pos);
    if (end == std::string::npos) end = text.size();
    const std::string item = text.substr(pos, end - pos);
    pos = end + 2;
    const size_t colon = item.find(": ");
    if (colon != std::string::npos) out.emplace_back(item.substr(0, colon), item.substr(colon + 2));
  }
  return out;
}

std::string controlnet_unit_module(const std::string& text) {
  for (const auto& [k, v] : controlnet_unit_items(text))
    if (k == "Module") return v;
  return "";
}

bool is_ip_adapter_module(const std::string& module) {
  return module.rfind("ip-adapter", 0) == 0;
}

void write_ip_adapter_units(const GenerationParams& p, size_t first, const std::string& resize,
                            GenerationParameters& g) {
  for (size_t i = 0; i < p.ip_adapters.size(); ++i) {
    const IpAdapterParams& u = p.ip_adapters[i];
    // The extension's unit text for an IP-Adapter unit (no thresholds; the whole run).
    g.set("ControlNet " + std::to_string(first + i),
          "Module: " + (u.module.empty() ? std::string("ip-adapter_clip_sd15") : u.module) +
              ", Model: " + fs::path(u.model).stem().string() + ", Weight: " + format_number(u.scale) +
              ", Resize Mode: " + resize +
              ", Low Vram: False, Guidance Start: 0, Guidance End: 1, Pixel Perfect: False, Control Mode: "
              "Balanced");
  }
}

void write_ip_adapter_keys(const GenerationParams& p, size_t first, GenerationParameters& g) {
  for (size_t i = 0; i < p.ip_adapters.size(); ++i) {
    const IpAdapterParams& u = p.ip_adapters[i];
    const std::string key = "ControlNet " + std::to_string(first + i);
    if (p.infotext_paths) {  // paths of the user's machine only when asked for (infotext.h, Privacy)
      if (!u.image.empty()) g.set(key + " image", fs::absolute(u.image).string());
      g.set(key + " model path", fs::absolute(u.model).string());
      if (!u.image_encoder.empty()) g.set(key + " image encoder", fs::absolute(u.image_encoder).string());
    }
    if (u.mode != "all") g.set(key + " IP-Adapter mode", u.mode);
    if (!u.layers.empty()) g.set(key + " IP-Adapter layers", u.layers);
  }
}

IpAdapterParams read_ip_adapter_unit(const std::string& key, const std::string& text,
                                     const std::map<std::string, std::string>& extras,
                                     const InfotextNumber& number) {
  IpAdapterParams u;
  for (const auto& [k, v] : controlnet_unit_items(text)) {
    if (k == "Module")
      u.module = v;
    else if (k == "Weight")
      u.scale = number(key + " " + k, v);
  }
  for (const auto& [what, v] : extras) {
    if (what == "image")
      u.image = v;
    else if (what == "model path")
      u.model = v;
    else if (what == "image encoder")
      u.image_encoder = v;
    else if (what == "IP-Adapter mode")
      u.mode = v;
    else if (what == "IP-Adapter layers")
      u.layers = v;
  }
  return u;
}

}  // namespace i2i
