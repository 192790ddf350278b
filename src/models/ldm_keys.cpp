#include "models/ldm_keys.h"

#include <climits>
#include <functional>
#include <map>
#include <optional>

#include "core/error.h"

namespace i2i {

namespace {

bool starts_with(const std::string& s, const std::string& p) {
  return s.compare(0, p.size(), p) == 0;
}

// Splits "a.b.c" at the first dot: ("a", "b.c"); no dot: (s, "").
std::pair<std::string, std::string> head(const std::string& s) {
  size_t dot = s.find('.');
  if (dot == std::string::npos) return {s, ""};
  return {s.substr(0, dot), s.substr(dot + 1)};
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

// LDM ResBlock parameter names -> diffusers ResnetBlock2D names ("" when unknown).
std::string resnet_param(const std::string& rest) {
  static const std::map<std::string, std::string> names = {{"in_layers.0", "norm1"},
                                                           {"in_layers.2", "conv1"},
                                                           {"emb_layers.1", "time_emb_proj"},
                                                           {"out_layers.0", "norm2"},
                                                           {"out_layers.3", "conv2"},
                                                           {"skip_connection", "conv_shortcut"},
                                                           // VAE ResnetBlock names
                                                           {"norm1", "norm1"},
                                                           {"conv1", "conv1"},
                                                           {"norm2", "norm2"},
                                                           {"conv2", "conv2"},
                                                           {"nin_shortcut", "conv_shortcut"}};
  size_t dot = rest.rfind('.');
  if (dot == std::string::npos) return "";
  auto it = names.find(rest.substr(0, dot));
  if (it == names.end()) return "";
  return it->second + rest.substr(dot);
}

// Inside a UNet block: `<m>.<rest>` where m = 0 is the resnet, 1 the transformer or the upsampler,
// 2 the upsampler. `up` is the diffusers block prefix ("down_blocks.i." / "up_blocks.i.").
std::string unet_sublayer(const std::string& block, int j, const std::string& m, const std::string& rest) {
  if (m == "0") {
    std::string r = resnet_param(rest);
    return r.empty() ? "" : block + "resnets." + std::to_string(j) + "." + r;
  }
  if ((m == "1" || m == "2") && starts_with(rest, "conv.")) return block + "upsamplers.0." + rest;
  if (m == "1") return block + "attentions." + std::to_string(j) + "." + rest;  // same names inside
  return "";
}

// The tensors of a SafeTensors file or of in-memory Weights, behind one interface.
struct Source {
  std::string origin;
  std::vector<std::string> names;
  std::function<Tensor(const std::string&)> get;
};

Source source_of(const SafeTensors& st) {
  return {st.path().string(), st.names(), [&st](const std::string& n) { return st.get(n); }};
}

Source source_of(const Weights& w) {
  Source s{w.origin(), {}, [&w](const std::string& n) { return w.get(n); }};
  for (const auto& [name, t] : w.all()) s.names.push_back(name);
  return s;
}

int unet_layers_per_block(const Source& st, const std::string& prefix) {
  int first_down = INT_MAX, max_input = -1;
  const std::string ib = prefix + "input_blocks.";
  for (const auto& name : st.names) {
    if (!starts_with(name, ib)) continue;
    auto [idx, rest] = head(name.substr(ib.size()));
    auto k = to_index(idx);
    if (!k) continue;
    max_input = std::max(max_input, *k);
    if (starts_with(rest, "0.op.")) first_down = std::min(first_down, *k);
  }
  check(max_input >= 1, st.origin + ": no UNet tensors '" + ib + "*'");
  return first_down != INT_MAX ? first_down - 1 : max_input;
}

}  // namespace

std::string ldm_unet_key_to_diffusers(const std::string& key, int layers) {
  auto [part, rest] = head(key);
  if (part == "time_embed") {
    auto [m, r] = head(rest);
    if (m == "0") return "time_embedding.linear_1." + r;
    if (m == "2") return "time_embedding.linear_2." + r;
    return "";
  }
  if (part == "label_emb") {  // SDXL added embedding: label_emb.0.{0,2}
    if (starts_with(rest, "0.0.")) return "add_embedding.linear_1." + rest.substr(4);
    if (starts_with(rest, "0.2.")) return "add_embedding.linear_2." + rest.substr(4);
    return "";
  }
  if (part == "out") {
    auto [m, r] = head(rest);
    if (m == "0") return "conv_norm_out." + r;
    if (m == "2") return "conv_out." + r;
    return "";
  }
  auto [idx, inner] = head(rest);
  auto k = to_index(idx);
  auto [m, r] = head(inner);
  if (!k) return "";
  if (part == "input_blocks") {
    if (*k == 0) return m == "0" ? "conv_in." + r : "";
    int level = (*k - 1) / (layers + 1), j = (*k - 1) % (layers + 1);
    std::string block = "down_blocks." + std::to_string(level) + ".";
    if (j == layers)
      return m == "0" && starts_with(r, "op.") ? block + "downsamplers.0.conv." + r.substr(3) : "";
    return unet_sublayer(block, j, m, r);
  }
  if (part == "middle_block") {
    if (*k == 1) return "mid_block.attentions.0." + inner;
    if (*k == 0 || *k == 2) {
      std::string p = resnet_param(inner);
      return p.empty() ? "" : "mid_block.resnets." + std::to_string(*k / 2) + "." + p;
    }
    return "";
  }
  if (part == "output_blocks") {
    int level = *k / (layers + 1), j = *k % (layers + 1);
    return unet_sublayer("up_blocks." + std::to_string(level) + ".", j, m, r);
  }
  return "";
}

namespace {

// diffusers ResnetBlock2D layer names -> LDM ResBlock names ("" when unknown).
std::string ldm_resnet_layer(const std::string& layer) {
  static const std::map<std::string, std::string> names = {
      {"norm1", "in_layers.0"},  {"conv1", "in_layers.2"},  {"time_emb_proj", "emb_layers.1"},
      {"norm2", "out_layers.0"}, {"conv2", "out_layers.3"}, {"conv_shortcut", "skip_connection"}};
  auto it = names.find(layer);
  return it == names.end() ? "" : it->second;
}

}  // namespace

std::vector<std::string> diffusers_unet_module_to_ldm(const std::string& module, int layers) {
  static const std::map<std::string, std::string> fixed = {{"conv_in", "input_blocks.0.0"},
                                                           {"time_embedding.linear_1", "time_embed.0"},
                                                           {"time_embedding.linear_2", "time_embed.2"},
                                                           {"add_embedding.linear_1", "label_emb.0.0"},
                                                           {"add_embedding.linear_2", "label_emb.0.2"},
                                                           {"conv_norm_out", "out.0"},
                                                           {"conv_out", "out.2"}};
  if (auto it = fixed.find(module); it != fixed.end()) return {it->second};
  auto [part, rest] = head(module);
  if (part == "mid_block") {
    auto [kind, r] = head(rest);
    auto [idx, inner] = head(r);
    auto i = to_index(idx);
    if (!i || inner.empty()) return {};
    if (kind == "attentions" && *i == 0) return {"middle_block.1." + inner};
    const std::string layer = kind == "resnets" && *i <= 1 ? ldm_resnet_layer(inner) : "";
    if (layer.empty()) return {};
    return {"middle_block." + std::to_string(2 * *i) + "." + layer};
  }
  if (part != "down_blocks" && part != "up_blocks") return {};
  const bool down = part == "down_blocks";
  auto [lvl, r] = head(rest);
  auto [kind, r2] = head(r);
  auto [idx, inner] = head(r2);
  auto level = to_index(lvl);
  auto j = to_index(idx);
  if (!level || !j || inner.empty()) return {};
  const int base = down ? 1 + *level * (layers + 1) : *level * (layers + 1);
  const std::string blocks = down ? "input_blocks." : "output_blocks.";
  if (kind == "resnets" && *j < (down ? layers : layers + 1)) {
    const std::string layer = ldm_resnet_layer(inner);
    if (layer.empty()) return {};
    return {blocks + std::to_string(base + *j) + ".0." + layer};
  }
  if (kind == "attentions" && *j < (down ? layers : layers + 1))
    return {blocks + std::to_string(base + *j) + ".1." + inner};
  if (down && kind == "downsamplers" && *j == 0 && inner == "conv")
    return {blocks + std::to_string(base + layers) + ".0.op"};
  if (!down && kind == "upsamplers" && *j == 0 && inner == "conv")
    return {blocks + std::to_string(base + layers) + ".1.conv",
            blocks + std::to_string(base + layers) + ".2.conv"};
  return {};
}

std::string ldm_vae_key_to_diffusers(const std::string& key, int levels) {
  if (starts_with(key, "quant_conv.") || starts_with(key, "post_quant_conv.")) return key;
  auto [coder, rest] = head(key);
  if (coder != "encoder" && coder != "decoder") return "";
  const std::string c = coder + ".";
  auto [part, inner] = head(rest);
  if (part == "conv_in" || part == "conv_out") return c + rest;
  if (part == "norm_out") return c + "conv_norm_out." + inner;
  if (part == "mid") {
    auto [sub, r] = head(inner);
    if (sub == "block_1" || sub == "block_2") {
      std::string p = resnet_param(r);
      return p.empty() ? "" : c + "mid_block.resnets." + (sub == "block_1" ? "0." : "1.") + p;
    }
    if (sub == "attn_1") {
      static const std::map<std::string, std::string> names = {
          {"norm", "group_norm"}, {"q", "to_q"}, {"k", "to_k"}, {"v", "to_v"}, {"proj_out", "to_out.0"}};
      auto [layer, param] = head(r);
      auto it = names.find(layer);
      return it == names.end() ? "" : c + "mid_block.attentions.0." + it->second + "." + param;
    }
    return "";
  }
  if ((coder == "encoder" && part == "down") || (coder == "decoder" && part == "up")) {
    auto [idx, r] = head(inner);
    auto n = to_index(idx);
    if (!n || *n >= levels) return "";
    int level = coder == "encoder" ? *n : levels - 1 - *n;
    std::string block =
        c + (coder == "encoder" ? "down_blocks." : "up_blocks.") + std::to_string(level) + ".";
    auto [sub, r2] = head(r);
    if (sub == "block") {
      auto [j, param] = head(r2);
      std::string p = resnet_param(param);
      return to_index(j) && !p.empty() ? block + "resnets." + j + "." + p : "";
    }
    if (sub == "downsample" || sub == "upsample")
      return starts_with(r2, "conv.")
                 ? block + (sub == "downsample" ? "downsamplers.0." : "upsamplers.0.") + r2
                 : "";
  }
  return "";
}

Weights weights_from_safetensors(const SafeTensors& st, const std::string& prefix) {
  Weights w(st.path().string());
  for (const auto& name : st.names())
    if (starts_with(name, prefix)) w.add(name.substr(prefix.size()), st.get(name));
  return w;
}

namespace {

Weights unet_from_ldm(const Source& st, const std::string& prefix) {
  const int layers = unet_layers_per_block(st, prefix);
  Weights w(st.origin);
  for (const auto& name : st.names) {
    if (!starts_with(name, prefix)) continue;
    std::string key = ldm_unet_key_to_diffusers(name.substr(prefix.size()), layers);
    check(!key.empty(), st.origin + ": unexpected UNet tensor '" + name + "'");
    w.add(key, st.get(name));
  }
  return w;
}

Weights vae_from_ldm(const Source& st, const std::string& prefix) {
  int levels = 0;
  for (const auto& name : st.names) {
    const std::string down = prefix + "encoder.down.";
    if (!starts_with(name, down)) continue;
    auto n = to_index(head(name.substr(down.size())).first);
    if (n) levels = std::max(levels, *n + 1);
  }
  check(levels >= 1, st.origin + ": no VAE tensors '" + prefix + "encoder.down.*'");
  Weights w(st.origin);
  for (const auto& name : st.names) {
    if (!starts_with(name, prefix)) continue;
    std::string key = ldm_vae_key_to_diffusers(name.substr(prefix.size()), levels);
    check(!key.empty(), st.origin + ": unexpected VAE tensor '" + name + "'");
    Tensor t = st.get(name);
    // The mid-block attention's q / k / v / proj_out are 1x1 convolutions in the original layout.
    bool attn_weight = key.find("mid_block.attentions.0.to_") != std::string::npos && key.size() > 7 &&
                       key.compare(key.size() - 7, 7, ".weight") == 0;
    if (attn_weight && t.ndim() == 4 && t.dim(2) == 1 && t.dim(3) == 1) t = t.reshape({t.dim(0), t.dim(1)});
    w.add(key, t);
  }
  return w;
}

}  // namespace

Weights unet_weights_from_ldm(const SafeTensors& st, const std::string& prefix) {
  return unet_from_ldm(source_of(st), prefix);
}
Weights unet_weights_from_ldm(const Weights& w, const std::string& prefix) {
  return unet_from_ldm(source_of(w), prefix);
}
Weights vae_weights_from_ldm(const SafeTensors& st, const std::string& prefix) {
  return vae_from_ldm(source_of(st), prefix);
}
Weights vae_weights_from_ldm(const Weights& w, const std::string& prefix) {
  return vae_from_ldm(source_of(w), prefix);
}

}  // namespace i2i
