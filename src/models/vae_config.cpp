#include "models/vae_config.h"

#include "core/error.h"
#include "models/model_config.h"

namespace i2i {

void VaeConfig::validate(const std::string& origin) const {
  const std::string p = origin + ": ";
  check(levels() >= 1, p + "VAE needs at least one level");
  check(layers_per_block >= 1, p + "layers_per_block must be positive");
  check(in_channels >= 1 && out_channels >= 1 && latent_channels >= 1, p + "channel counts must be positive");
  check(norm_num_groups >= 1, p + "norm_num_groups must be positive");
  for (int64_t c : block_out_channels)
    check(c > 0 && c % norm_num_groups == 0, p + "block_out_channels entry " + std::to_string(c) +
                                                 " is not a multiple of norm_num_groups " +
                                                 std::to_string(norm_num_groups));
}

VaeConfig vae_config_from_json(const nlohmann::json& j, const std::string& origin) {
  check(j.is_object(), origin + ": VAE config is not a json object");
  VaeConfig c;
  c.in_channels = json_get<int64_t>(j, "in_channels", 3, origin);
  c.out_channels = json_get<int64_t>(j, "out_channels", 3, origin);
  c.latent_channels = json_get<int64_t>(j, "latent_channels", 4, origin);
  c.block_out_channels =
      json_get<std::vector<int64_t>>(j, "block_out_channels", c.block_out_channels, origin);
  c.layers_per_block = json_get<int>(j, "layers_per_block", 2, origin);
  c.norm_num_groups = json_get<int>(j, "norm_num_groups", 32, origin);
  c.scaling_factor = checked_vae_scaling_factor(json_get<double>(j, "scaling_factor", 0.18215, origin),
                                                origin + ": config field 'scaling_factor'");
  check(json_get<std::string>(j, "act_fn", "silu", origin) == "silu", origin + ": VAE act_fn must be 'silu'");
  for (const char* key : {"down_block_types", "up_block_types"})
    if (j.contains(key))
      for (const auto& t : j[key]) {
        std::string s = t.is_string() ? t.get<std::string>() : t.dump();
        check(s == "DownEncoderBlock2D" || s == "UpDecoderBlock2D",
              origin + ": VAE block type '" + s + "' is not supported");
      }
  c.validate(origin);
  return c;
}

VaeConfig vae_config_from_file(const std::filesystem::path& path) {
  return vae_config_from_json(read_config_json(path), path.string());
}

VaeConfig infer_vae_config(const Weights& w, const nlohmann::json* json, const std::string& config_origin) {
  VaeConfig c;
  if (json) c = vae_config_from_json(*json, config_origin.empty() ? w.origin() + " (config)" : config_origin);
  const Tensor& conv_in = w.get("encoder.conv_in.weight");
  check(conv_in.ndim() == 4, w.origin() + ": tensor 'encoder.conv_in.weight' is not a convolution weight");
  c.in_channels = conv_in.dim(1);
  const Tensor& conv_out = w.get("decoder.conv_out.weight");
  check(conv_out.ndim() == 4, w.origin() + ": tensor 'decoder.conv_out.weight' is not a convolution weight");
  c.out_channels = conv_out.dim(0);
  c.latent_channels = w.get("decoder.conv_in.weight").dim(1);
  int n = count_indexed(w, "encoder.down_blocks.");
  check(n >= 1, w.origin() + ": no 'encoder.down_blocks.*' tensors: not a diffusers VAE");
  c.block_out_channels.clear();
  for (int i = 0; i < n; ++i)
    c.block_out_channels.push_back(
        w.get("encoder.down_blocks." + std::to_string(i) + ".resnets.0.conv1.weight").dim(0));
  c.layers_per_block = count_indexed(w, "encoder.down_blocks.0.resnets.");
  c.validate(w.origin());
  return c;
}

}  // namespace i2i
