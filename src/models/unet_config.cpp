#include "models/unet_config.h"

#include <algorithm>
#include <optional>

#include "core/error.h"
#include "models/model_config.h"

namespace i2i {

void UNetConfig::validate(const std::string& origin) const {
  const std::string p = origin + ": ";
  int n = levels();
  check(n >= 1, p + "UNet needs at least one level");
  check(static_cast<int>(cross_attention.size()) == n,
        p + "down_block_types has a different length than block_out_channels");
  check(static_cast<int>(heads.size()) == n, p + "attention head counts do not match the number of levels");
  check(static_cast<int>(transformer_depth.size()) == n,
        p + "transformer_layers_per_block does not match the levels");
  check(layers_per_block >= 1, p + "layers_per_block must be positive");
  check(norm_num_groups >= 1, p + "norm_num_groups must be positive");
  check(in_channels >= 1 && out_channels >= 1, p + "in/out channels must be positive");
  for (int i = 0; i < n; ++i) {
    int64_t c = block_out_channels[i];
    check(c > 0 && c % norm_num_groups == 0,
          p + "block_out_channels[" + std::to_string(i) + "] = " + std::to_string(c) +
              " is not a multiple of norm_num_groups " + std::to_string(norm_num_groups));
    check(heads[i] >= 1 && c % heads[i] == 0, p + "level " + std::to_string(i) + ": " + std::to_string(c) +
                                                  " channels cannot be split into " +
                                                  std::to_string(heads[i]) + " heads");
    check(transformer_depth[i] >= 1, p + "transformer depth must be positive");
  }
  check(time_proj_dim >= 2 && time_proj_dim % 2 == 0, p + "time projection width must be even");
  check(time_cond_proj_dim == 0 || (time_cond_proj_dim >= 4 && time_cond_proj_dim <= 65536),
        p + "time_cond_proj_dim must be 0 (none) or between 4 and 65536, got " +
            std::to_string(time_cond_proj_dim));
  check(addition_time_embed_dim >= 0 && projection_class_embeddings_input_dim >= 0,
        p + "added-embedding widths must not be negative");
  check(!has_text_time() || (addition_time_embed_dim >= 2 && addition_time_embed_dim % 2 == 0),
        p + "addition_time_embed_dim must be even and positive for addition_embed_type \"text_time\"");
}

int64_t UNetConfig::time_id_count(int64_t pooled_dim) const {
  if (!has_text_time() || addition_time_embed_dim <= 0) return -1;
  const int64_t rest = projection_class_embeddings_input_dim - pooled_dim;
  if (rest <= 0 || rest % addition_time_embed_dim != 0) return -1;
  return rest / addition_time_embed_dim;
}

namespace {

std::vector<int> int_list(const nlohmann::json& v, int n, const std::string& what,
                          const std::string& origin) {
  std::vector<int> out;
  if (v.is_number_integer()) return std::vector<int>(static_cast<size_t>(n), v.get<int>());
  check(v.is_array(), origin + ": '" + what + "' must be an integer or a list");
  for (const auto& e : v) {
    check(e.is_number_integer(), origin + ": '" + what + "' must hold integers");
    out.push_back(e.get<int>());
  }
  check(static_cast<int>(out.size()) == n, origin + ": '" + what + "' has " + std::to_string(out.size()) +
                                               " entries for " + std::to_string(n) + " levels");
  return out;
}

// Rejects settings of UNet2DConditionModel that i2i does not implement (a silent mismatch would give wrong
// images, so this fails loudly instead).
void reject_unsupported(const nlohmann::json& j, const std::string& origin) {
  auto must_be = [&](const char* key, const nlohmann::json& ok) {
    if (j.contains(key) && !j[key].is_null() && j[key] != ok)
      throw Error(origin + ": UNet setting '" + key + "' = " + j[key].dump() + " is not supported");
  };
  for (const char* key :
       {"class_embed_type", "encoder_hid_dim", "encoder_hid_dim_type", "num_class_embeds",
        "time_embedding_act_fn", "timestep_post_act", "cross_attention_norm", "time_embedding_dim"})
    if (j.contains(key) && !j[key].is_null())
      throw Error(origin + ": UNet setting '" + key + "' = " + j[key].dump() + " is not supported");
  must_be("addition_embed_type", "text_time");
  must_be("act_fn", "silu");
  must_be("mid_block_type", "UNetMidBlock2DCrossAttn");
  must_be("only_cross_attention", false);
  must_be("dual_cross_attention", false);
  must_be("resnet_time_scale_shift", "default");
  must_be("resnet_skip_time_act", false);
  must_be("time_embedding_type", "positional");
  must_be("attention_type", "default");
  must_be("class_embeddings_concat", false);
  must_be("conv_in_kernel", 3);
  must_be("conv_out_kernel", 3);
  must_be("downsample_padding", 1);
  if (j.contains("reverse_transformer_layers_per_block") &&
      !j["reverse_transformer_layers_per_block"].is_null())
    throw Error(origin + ": UNet setting 'reverse_transformer_layers_per_block' is not supported");
}

// Heads per level: diffusers uses `attention_head_dim` as the head COUNT when `num_attention_heads` is null
// (a naming bug kept for compatibility; true of SD 1.x, 2.x and SDXL configs).
std::optional<std::vector<int>> heads_from_json(const nlohmann::json& j, int n, const std::string& origin) {
  if (j.contains("num_attention_heads") && !j["num_attention_heads"].is_null())
    return int_list(j["num_attention_heads"], n, "num_attention_heads", origin);
  if (j.contains("attention_head_dim") && !j["attention_head_dim"].is_null())
    return int_list(j["attention_head_dim"], n, "attention_head_dim", origin);
  return std::nullopt;
}

// Heads when no config says: SD 1.x has 8 per level; SD 2.x (Linear projections) a head dim of 64.
std::vector<int> default_heads(const UNetConfig& c) {
  std::vector<int> h;
  for (int64_t ch : c.block_out_channels)
    h.push_back(c.use_linear_projection ? static_cast<int>(std::max<int64_t>(1, ch / 64)) : 8);
  return h;
}

// The settings shapes cannot tell, taken from json (when given) into `c`.
void apply_non_shape_settings(UNetConfig& c, const nlohmann::json& j, const std::string& origin) {
  c.heads = heads_from_json(j, c.levels(), origin).value_or(default_heads(c));
  c.norm_num_groups = json_get<int>(j, "norm_num_groups", 32, origin);
  c.norm_eps = json_get<float>(j, "norm_eps", 1e-5f, origin);
  c.upcast_attention = json_get<bool>(j, "upcast_attention", false, origin);
  c.flip_sin_to_cos = json_get<bool>(j, "flip_sin_to_cos", true, origin);
  c.freq_shift = json_get<float>(j, "freq_shift", 0.f, origin);
  c.center_input_sample = json_get<bool>(j, "center_input_sample", false, origin);
  c.mid_block_scale_factor = json_get<float>(j, "mid_block_scale_factor", 1.f, origin);
  c.resnet_out_scale_factor = json_get<float>(j, "resnet_out_scale_factor", 1.f, origin);
}

bool json_set(const nlohmann::json& j, const char* key) {
  return j.contains(key) && !j[key].is_null();
}

// SDXL's "text_time" added embedding from a diffusers config: both widths are required with it, and
// neither is allowed without it (a class embedding of that width is not implemented).
void apply_text_time(UNetConfig& c, const nlohmann::json& j, const std::string& origin) {
  if (!json_set(j, "addition_embed_type")) {
    check(!json_set(j, "projection_class_embeddings_input_dim"),
          origin +
              ": UNet setting 'projection_class_embeddings_input_dim' without addition_embed_type "
              "\"text_time\" is not supported");
    return;
  }
  check(json_set(j, "addition_time_embed_dim") && json_set(j, "projection_class_embeddings_input_dim"),
        origin +
            ": addition_embed_type \"text_time\" needs addition_time_embed_dim and "
            "projection_class_embeddings_input_dim");
  c.addition_time_embed_dim = json_get<int64_t>(j, "addition_time_embed_dim", 0, origin);
  c.projection_class_embeddings_input_dim =
      json_get<int64_t>(j, "projection_class_embeddings_input_dim", 0, origin);
  check(c.projection_class_embeddings_input_dim > 0,
        origin + ": projection_class_embeddings_input_dim must be positive");
}

}  // namespace

UNetConfig unet_config_from_json(const nlohmann::json& j, const std::string& origin) {
  check(j.is_object(), origin + ": UNet config is not a json object");
  reject_unsupported(j, origin);
  UNetConfig c;
  c.in_channels = json_get<int64_t>(j, "in_channels", 4, origin);
  c.out_channels = json_get<int64_t>(j, "out_channels", 4, origin);
  c.block_out_channels =
      json_get<std::vector<int64_t>>(j, "block_out_channels", c.block_out_channels, origin);
  int n = c.levels();
  std::vector<std::string> down = json_get<std::vector<std::string>>(
      j, "down_block_types",
      {"CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"}, origin);
  std::vector<std::string> up = json_get<std::vector<std::string>>(
      j, "up_block_types", {"UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"},
      origin);
  check(static_cast<int>(down.size()) == n && static_cast<int>(up.size()) == n,
        origin + ": down_block_types / up_block_types must have one entry per block_out_channels entry");
  c.cross_attention.assign(static_cast<size_t>(n), false);
  for (int i = 0; i < n; ++i) {
    const std::string& d = down[i];
    check(d == "CrossAttnDownBlock2D" || d == "DownBlock2D",
          origin + ": down block type '" + d + "' is not supported");
    c.cross_attention[i] = d == "CrossAttnDownBlock2D";
    const std::string& u = up[n - 1 - i];
    check(u == "CrossAttnUpBlock2D" || u == "UpBlock2D",
          origin + ": up block type '" + u + "' is not supported");
    check((u == "CrossAttnUpBlock2D") == c.cross_attention[i],
          origin + ": up block '" + u + "' does not mirror down block '" + d + "'");
  }
  c.layers_per_block = json_get<int>(j, "layers_per_block", 2, origin);
  if (j.contains("transformer_layers_per_block") && !j["transformer_layers_per_block"].is_null())
    c.transformer_depth =
        int_list(j["transformer_layers_per_block"], n, "transformer_layers_per_block", origin);
  else
    c.transformer_depth.assign(static_cast<size_t>(n), 1);
  c.mid_transformer_depth = c.transformer_depth.back();
  c.cross_attention_dim = json_get<int64_t>(j, "cross_attention_dim", 768, origin);
  c.use_linear_projection = json_get<bool>(j, "use_linear_projection", false, origin);
  apply_non_shape_settings(c, j, origin);
  c.time_proj_dim = c.block_out_channels[0];
  c.time_embed_dim = 4 * c.block_out_channels[0];
  if (j.contains("time_cond_proj_dim") && !j["time_cond_proj_dim"].is_null())
    c.time_cond_proj_dim = json_get<int64_t>(j, "time_cond_proj_dim", 0, origin);
  apply_text_time(c, j, origin);
  c.validate(origin);
  return c;
}

UNetConfig unet_config_from_file(const std::filesystem::path& path) {
  return unet_config_from_json(read_config_json(path), path.string());
}

UNetConfig infer_unet_config(const Weights& w, const nlohmann::json* json, const std::string& config_origin) {
  const std::string origin = w.origin();
  UNetConfig c;
  const Tensor& conv_in = w.get("conv_in.weight");
  check(conv_in.ndim() == 4, origin + ": tensor 'conv_in.weight' is not a 4-d convolution weight");
  c.in_channels = conv_in.dim(1);
  const Tensor& conv_out = w.get("conv_out.weight");
  check(conv_out.ndim() == 4, origin + ": tensor 'conv_out.weight' is not a 4-d convolution weight");
  c.out_channels = conv_out.dim(0);
  int n = count_indexed(w, "down_blocks.");
  check(n >= 1, origin + ": no 'down_blocks.*' tensors: not a diffusers UNet");
  c.block_out_channels.clear();
  c.cross_attention.clear();
  c.transformer_depth.clear();
  for (int i = 0; i < n; ++i) {
    std::string b = "down_blocks." + std::to_string(i) + ".";
    c.block_out_channels.push_back(w.get(b + "resnets.0.conv1.weight").dim(0));
    bool attn = w.has(b + "attentions.0.proj_in.weight");
    c.cross_attention.push_back(attn);
    c.transformer_depth.push_back(attn ? count_indexed(w, b + "attentions.0.transformer_blocks.") : 1);
  }
  c.layers_per_block = count_indexed(w, "down_blocks.0.resnets.");
  c.mid_transformer_depth = std::max(1, count_indexed(w, "mid_block.attentions.0.transformer_blocks."));
  // Projection kind and cross-attention width from the mid block's transformer (present in SD 1.x / 2.x).
  const std::string t = "mid_block.attentions.0.";
  c.use_linear_projection = w.get(t + "proj_in.weight").ndim() == 2;
  c.cross_attention_dim = w.get(t + "transformer_blocks.0.attn2.to_k.weight").dim(1);
  const Tensor& l1 = w.get("time_embedding.linear_1.weight");
  check(l1.ndim() == 2, origin + ": tensor 'time_embedding.linear_1.weight' is not a matrix");
  c.time_embed_dim = l1.dim(0);
  c.time_proj_dim = l1.dim(1);
  if (w.has("time_embedding.cond_proj.weight")) {
    const Tensor& cp = w.get("time_embedding.cond_proj.weight");
    check(cp.ndim() == 2, origin + ": tensor 'time_embedding.cond_proj.weight' is not a matrix");
    c.time_cond_proj_dim = cp.dim(1);
  }
  // SDXL: add_embedding.linear_1 takes the pooled text embedding and the time-id sinusoids.
  const bool text_time = w.has("add_embedding.linear_1.weight");
  if (text_time) {
    const Tensor& a1 = w.get("add_embedding.linear_1.weight");
    check(a1.ndim() == 2, origin + ": tensor 'add_embedding.linear_1.weight' is not a matrix");
    c.projection_class_embeddings_input_dim = a1.dim(1);
    c.addition_time_embed_dim = 256;  // SDXL base and refiner
  }
  if (json) {
    const std::string jo = config_origin.empty() ? origin + " (config)" : config_origin;
    check(json->is_object(), jo + ": UNet config is not a json object");
    reject_unsupported(*json, jo);
    apply_non_shape_settings(c, *json, jo);
    const bool json_text_time = json_set(*json, "addition_embed_type");
    check(json_text_time == text_time || !json->contains("addition_embed_type"),
          origin + (text_time ? ": the weights have add_embedding but the config sets no addition_embed_type"
                              : ": the config sets addition_embed_type \"text_time\" but the weights have "
                                "no 'add_embedding.linear_1.weight'"));
    if (text_time && json_set(*json, "addition_time_embed_dim"))
      c.addition_time_embed_dim = json_get<int64_t>(*json, "addition_time_embed_dim", 256, jo);
    if (text_time && json_set(*json, "projection_class_embeddings_input_dim"))
      check(json_get<int64_t>(*json, "projection_class_embeddings_input_dim", 0, jo) ==
                c.projection_class_embeddings_input_dim,
            origin +
                ": projection_class_embeddings_input_dim in the config does not match "
                "'add_embedding.linear_1.weight'");
  } else {
    c.heads = default_heads(c);
  }
  c.validate(origin);
  return c;
}

}  // namespace i2i
