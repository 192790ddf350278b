#include "models/controlnet_config.h"

#include "core/error.h"
#include "models/model_config.h"

namespace i2i {

void ControlNetConfig::validate(const std::string& origin) const {
  unet.validate(origin);
  const std::string p = origin + ": ";
  // (An SDXL ControlNet would need SDXL's added embedding, which ControlNet does not build.)
  check(!unet.has_text_time(), p + "SDXL ControlNets (addition_embed_type \"text_time\") are not supported");
  check(conditioning_channels >= 1, p + "conditioning_channels must be positive");
  check(!conditioning_embedding_out_channels.empty() && conditioning_embedding_out_channels.size() <= 8,
        p + "conditioning_embedding_out_channels must have 1 to 8 entries");
  for (int64_t c : conditioning_embedding_out_channels)
    check(c >= 1, p + "conditioning_embedding_out_channels must be positive");
}

namespace {

// The ControlNet-only settings of a diffusers config.
void apply_controlnet_settings(ControlNetConfig& c, const nlohmann::json& j, const std::string& origin) {
  c.conditioning_channels = json_get<int64_t>(j, "conditioning_channels", c.conditioning_channels, origin);
  c.conditioning_embedding_out_channels = json_get<std::vector<int64_t>>(
      j, "conditioning_embedding_out_channels", c.conditioning_embedding_out_channels, origin);
  const std::string order = json_get<std::string>(j, "controlnet_conditioning_channel_order", "rgb", origin);
  check(order == "rgb" || order == "bgr",
        origin + ": controlnet_conditioning_channel_order '" + order + "' is not rgb or bgr");
  c.bgr = order == "bgr";
  check(!json_get<bool>(j, "global_pool_conditions", false, origin),
        origin + ": ControlNet setting 'global_pool_conditions' = true is not supported");
}

// The json with `up_block_types` mirroring `down_block_types` (a ControlNet config has no up blocks; the
// UNet parser insists on a consistent pair).
nlohmann::json with_mirrored_up_blocks(const nlohmann::json& j, const std::string& origin) {
  nlohmann::json u = j;
  if (j.contains("down_block_types") && j["down_block_types"].is_array()) {
    nlohmann::json up = nlohmann::json::array();
    for (auto it = j["down_block_types"].rbegin(); it != j["down_block_types"].rend(); ++it) {
      check(it->is_string(), origin + ": 'down_block_types' must hold strings");
      std::string d = it->get<std::string>();
      up.push_back(d == "CrossAttnDownBlock2D" ? "CrossAttnUpBlock2D" : d == "DownBlock2D" ? "UpBlock2D" : d);
    }
    u["up_block_types"] = up;
  }
  return u;
}

}  // namespace

ControlNetConfig controlnet_config_from_json(const nlohmann::json& j, const std::string& origin) {
  check(j.is_object(), origin + ": ControlNet config is not a json object");
  ControlNetConfig c;
  c.unet = unet_config_from_json(with_mirrored_up_blocks(j, origin), origin);
  apply_controlnet_settings(c, j, origin);
  c.validate(origin);
  return c;
}

ControlNetConfig controlnet_config_from_file(const std::filesystem::path& path) {
  return controlnet_config_from_json(read_config_json(path), path.string());
}

ControlNetConfig infer_controlnet_config(const Weights& w, const nlohmann::json* json,
                                         const std::string& config_origin) {
  const std::string origin = w.origin();
  const std::string jo = config_origin.empty() ? origin + " (config)" : config_origin;
  ControlNetConfig c;
  // infer_unet_config reads the UNet's out_channels from conv_out, which a ControlNet does not have: a
  // placeholder stands in (the value is never used by a ControlNet).
  Weights encoder = w;
  const Tensor& conv_in = w.get("conv_in.weight");
  check(conv_in.ndim() == 4, origin + ": tensor 'conv_in.weight' is not a 4-d convolution weight");
  if (!encoder.has("conv_out.weight"))
    encoder.add("conv_out.weight", Tensor::zeros({4, conv_in.dim(0), 3, 3}));
  nlohmann::json unet_json;
  if (json) {
    check(json->is_object(), jo + ": ControlNet config is not a json object");
    unet_json = with_mirrored_up_blocks(*json, jo);
  }
  c.unet = infer_unet_config(encoder, json ? &unet_json : nullptr, config_origin);
  c.unet.out_channels = c.unet.in_channels;

  if (json) apply_controlnet_settings(c, *json, jo);  // the shapes below win

  const std::string e = "controlnet_cond_embedding.";
  const Tensor& e_in = w.get(e + "conv_in.weight");
  check(e_in.ndim() == 4, origin + ": tensor '" + e + "conv_in.weight' is not a 4-d convolution weight");
  c.conditioning_channels = e_in.dim(1);
  c.conditioning_embedding_out_channels = {e_in.dim(0)};
  const int blocks = count_indexed(w, e + "blocks.");
  check(blocks % 2 == 0,
        origin + ": odd number of '" + e + "blocks.*' convolutions (" + std::to_string(blocks) + ")");
  for (int k = 1; k < blocks; k += 2)
    c.conditioning_embedding_out_channels.push_back(
        w.get(e + "blocks." + std::to_string(k) + ".weight").dim(0));
  c.validate(origin);
  return c;
}

}  // namespace i2i
