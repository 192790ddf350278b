#include "models/controlnet_load.h"

#include <algorithm>
#include <climits>
#include <optional>

#include "core/error.h"
#include "models/ldm_keys.h"
#include "models/model_config.h"
#include "models/unet_load.h"

namespace i2i {

namespace fs = std::filesystem;

namespace {

bool starts_with(const std::string& s, const std::string& p) {
  return s.compare(0, p.size(), p) == 0;
}

std::optional<int> to_index(const std::string& s) {
  if (s.empty() || s.size() > 6) return std::nullopt;
  int v = 0;
  for (char ch : s) {
    if (ch < '0' || ch > '9') return std::nullopt;
    v = v * 10 + (ch - '0');
  }
  return v;
}

// "N.rest" -> (N, rest).
std::optional<std::pair<int, std::string>> index_head(const std::string& s) {
  size_t dot = s.find('.');
  if (dot == std::string::npos) return std::nullopt;
  auto n = to_index(s.substr(0, dot));
  if (!n) return std::nullopt;
  return std::pair{*n, s.substr(dot + 1)};
}

}  // namespace

std::string ldm_controlnet_key_to_diffusers(const std::string& key, int layers_per_block, int hint_convs) {
  if (starts_with(key, "input_hint_block.")) {
    auto h = index_head(key.substr(17));
    if (!h || h->first % 2 != 0) return "";
    const int conv = h->first / 2;  // SiLU modules sit at the odd indices
    const std::string e = "controlnet_cond_embedding.";
    if (conv == 0) return e + "conv_in." + h->second;
    if (conv == hint_convs - 1) return e + "conv_out." + h->second;
    if (conv < hint_convs - 1) return e + "blocks." + std::to_string(conv - 1) + "." + h->second;
    return "";
  }
  if (starts_with(key, "zero_convs.")) {
    auto h = index_head(key.substr(11));
    if (!h || !starts_with(h->second, "0.")) return "";
    return "controlnet_down_blocks." + std::to_string(h->first) + "." + h->second.substr(2);
  }
  if (starts_with(key, "middle_block_out.0.")) return "controlnet_mid_block." + key.substr(19);
  if (starts_with(key, "time_embed.") || starts_with(key, "input_blocks.") ||
      starts_with(key, "middle_block."))
    return ldm_unet_key_to_diffusers(key, layers_per_block);
  return "";
}

Weights controlnet_weights_from_ldm(const SafeTensors& st, const std::string& prefix) {
  // Resnets per level (the first downsampler's input block index - 1) and the conditioning convolutions.
  int first_down = INT_MAX, max_input = -1, max_hint = -1;
  for (const auto& name : st.names()) {
    if (!starts_with(name, prefix)) continue;
    const std::string key = name.substr(prefix.size());
    if (starts_with(key, "input_blocks.")) {
      auto h = index_head(key.substr(13));
      if (!h) continue;
      max_input = std::max(max_input, h->first);
      if (starts_with(h->second, "0.op.")) first_down = std::min(first_down, h->first);
    } else if (starts_with(key, "input_hint_block.")) {
      auto h = index_head(key.substr(17));
      if (h) max_hint = std::max(max_hint, h->first);
    }
  }
  check(max_input >= 1, st.path().string() + ": no ControlNet tensors '" + prefix + "input_blocks.*'");
  check(max_hint >= 0, st.path().string() + ": no ControlNet tensors '" + prefix + "input_hint_block.*'");
  const int layers = first_down != INT_MAX ? first_down - 1 : max_input;
  const int hint_convs = max_hint / 2 + 1;

  Weights w(st.path().string());
  for (const auto& name : st.names()) {
    if (!starts_with(name, prefix)) continue;
    std::string key = ldm_controlnet_key_to_diffusers(name.substr(prefix.size()), layers, hint_convs);
    check(!key.empty(), st.path().string() + ": unexpected ControlNet tensor '" + name + "'");
    w.add(key, st.get(name));
  }
  return w;
}

ControlNet load_controlnet_diffusers(const fs::path& dir, Precision precision) {
  fs::path cn_dir = fs::exists(dir / "controlnet" / "config.json") ? dir / "controlnet" : dir;
  check(fs::exists(cn_dir / "config.json"), dir.string() + ": no ControlNet config.json");
  ControlNetConfig config = controlnet_config_from_file(cn_dir / "config.json");
  return ControlNet(diffusers_component_weights(cn_dir), config, precision);
}

ControlNet load_controlnet_single_file(const fs::path& file, const nlohmann::json* config,
                                       Precision precision, const std::string& config_origin) {
  SafeTensors st = SafeTensors::open(file);
  bool ldm = false;
  for (const auto& name : st.names())
    if (starts_with(name, "control_model.")) {
      ldm = true;
      break;
    }
  Weights w = ldm ? controlnet_weights_from_ldm(st) : weights_from_safetensors(st);
  if (!ldm)
    check(w.has("controlnet_cond_embedding.conv_in.weight"),
          file.string() + ": not a ControlNet (no control_model.* or controlnet_cond_embedding.* tensors)");
  return ControlNet(w, infer_controlnet_config(w, config, config_origin), precision);
}

ControlNet load_controlnet(const Checkpoint& ck, Precision precision) {
  check(ck.family == ModelFamily::ControlNet,
        ck.path.string() + ": is a " + family_name(ck.family) + " checkpoint, not a ControlNet");
  if (ck.is_folder) return load_controlnet_diffusers(ck.path, precision);
  const nlohmann::json* config = ck.controlnet_config.empty() ? nullptr : &ck.controlnet_config;
  return load_controlnet_single_file(ck.path, config, precision, ck.config_origin("controlnet"));
}

}  // namespace i2i
