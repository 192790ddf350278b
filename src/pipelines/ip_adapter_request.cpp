#include "pipelines/ip_adapter_request.h"

#include <algorithm>
#include <cctype>

#include "core/error.h"
#include "pipelines/generation.h"

namespace i2i {
namespace fs = std::filesystem;

fs::path find_image_encoder(const fs::path& adapter_file) {
  const fs::path dir = adapter_file.has_parent_path() ? adapter_file.parent_path() : fs::path(".");
  std::string name = adapter_file.filename().string();
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
  std::vector<fs::path> candidates;
  if (name.find("vit-h") != std::string::npos) candidates.push_back(dir / ".." / "models" / "image_encoder");
  candidates.push_back(dir / "image_encoder");
  candidates.push_back(dir / ".." / "image_encoder");
  std::string searched;
  for (const fs::path& c : candidates) {
    std::error_code ec;
    if (fs::is_regular_file(c / "config.json", ec)) return c.lexically_normal();
    searched += (searched.empty() ? "" : ", ") + c.lexically_normal().string();
  }
  throw ParameterError("IP-Adapter " + Error::literal(adapter_file.filename().string()) +
                       ": no CLIP image encoder folder found (looked for config.json in " +
                       Error::literal(searched) + "): give {image_encoder}");
}

namespace {

std::string module_name(const SdModel& model, const ClipVisionEncoder& encoder) {
  if (model.checkpoint.family != ModelFamily::SDXL) return "ip-adapter_clip_sd15";
  // SDXL: the ViT-bigG encoder (hidden 1664) of ip-adapter_sdxl, else the ViT-H one of the "vit-h" adapters.
  return encoder.config().hidden_size == 1664 ? "ip-adapter_clip_sdxl" : "ip-adapter_clip_sdxl_plus_vith";
}

std::vector<float> layer_scales(const IpAdapterParams& p, const SdModel& model) {
  const std::vector<std::string>& names = model.unet.transformer_block_names();
  if (!p.layers.empty()) return ip_adapter_layer_scales(parse_ip_adapter_layers(p.layers), names);
  const auto layers = ip_adapter_mode_layers(p.mode, model.checkpoint.family == ModelFamily::SDXL);
  if (layers.empty()) return {};
  return ip_adapter_layer_scales(layers, names);
}

}  // namespace

std::vector<LoadedIpAdapter> load_ip_adapters(ModelSet& models, GenerationRequest& req) {
  const SdModel& model = models.model();
  std::vector<LoadedIpAdapter> out;
  for (size_t i = 0; i < req.params.ip_adapters.size(); ++i) {
    IpAdapterParams& p = req.params.ip_adapters[i];
    const std::string who = ip_adapter_unit_name(p, i);
    if (i >= req.images.ip_adapters.size() || !req.images.ip_adapters[i])
      throw ParameterError(who + ": no reference picture ({ip_adapter_image})");
    LoadedIpAdapter l;
    l.adapter = models.ip_adapter_cache().adapter(p.model, model);
    if (p.image_encoder.empty()) p.image_encoder = find_image_encoder(p.model).string();
    auto encoder = models.ip_adapter_cache().encoder(p.image_encoder, model.precision);
    l.adapter->projection.check_encoder(encoder->config(), p.image_encoder);
    p.module = module_name(model, *encoder);
    const Tensor tokens = models.ip_adapter_cache().tokens(p.model, *l.adapter, p.image_encoder, *encoder,
                                                           *req.images.ip_adapters[i]);
    l.unit.adapter = &l.adapter->attention;
    l.unit.name = fs::path(p.model).filename().string();
    l.unit.negative = tokens.slice0(0, 1);
    l.unit.positive = tokens.slice0(1, 2);
    l.unit.scale = static_cast<float>(p.scale);
    l.unit.layer_scales = layer_scales(p, model);
    out.push_back(std::move(l));
  }
  return out;
}

}  // namespace i2i
