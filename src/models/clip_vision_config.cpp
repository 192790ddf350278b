#include "models/clip_vision_config.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/config_file.h"
#include "io/python_json.h"

namespace i2i {

int count_clip_vision_layers(const Weights& w) {
  int n = 0;
  while (w.sub("vision_model.encoder.layers." + std::to_string(n) + ".").size() != 0) ++n;
  return n;
}

namespace {

const Tensor& tensor_of_rank(const Weights& w, const std::string& name, int64_t rank, const char* layout) {
  const Tensor& t = w.get(name);
  check(t.ndim() == rank, w.origin() + ": tensor '" + w.full_name(name) + "' has shape " +
                              shape_str(t.shape()) + ", expected " + layout);
  return t;
}

}  // namespace

ClipVisionConfig infer_clip_vision_config(const Weights& w, const nlohmann::json* hf_config,
                                          bool with_projection) {
  const std::string where = w.origin();
  ClipVisionConfig c;
  const Tensor& patch = tensor_of_rank(w, "vision_model.embeddings.patch_embedding.weight", 4,
                                       "[hidden, channels, patch, patch]");
  c.hidden_size = patch.dim(0);
  c.num_channels = patch.dim(1);
  c.patch_size = patch.dim(2);
  check(patch.dim(3) == c.patch_size && c.patch_size > 0 && c.hidden_size > 0 && c.num_channels > 0,
        where + ": tensor '" + w.full_name("vision_model.embeddings.patch_embedding.weight") +
            "' has shape " + shape_str(patch.shape()) +
            ", expected square patches [hidden, channels, patch, patch]");
  const Tensor& pos =
      tensor_of_rank(w, "vision_model.embeddings.position_embedding.weight", 2, "[positions, hidden]");
  const int64_t positions = pos.dim(0);
  const int present = count_clip_vision_layers(w);
  check(present > 0, where + ": no tensors '" + w.full_name("vision_model.encoder.layers.0.") + "*'");
  c.num_layers = present;
  c.intermediate_size =
      tensor_of_rank(w, "vision_model.encoder.layers.0.mlp.fc1.weight", 2, "[intermediate, hidden]").dim(0);
  c.projection_dim = 0;
  if (with_projection)
    c.projection_dim = tensor_of_rank(w, "visual_projection.weight", 2, "[projection, hidden]").dim(0);

  // Without a config: the grid that the positions give (positions = grid^2 + 1).
  const auto grid =
      static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(std::max<int64_t>(positions - 1, 0)))));
  c.image_size = grid * c.patch_size;
  c.activation = ClipActivation::QuickGelu;
  int64_t heads = c.hidden_size % 64 == 0 ? c.hidden_size / 64 : 0;
  if (hf_config != nullptr) {
    check(hf_config->is_object(), where + ": the image encoder config is not a JSON object");
    const nlohmann::json* cfg = hf_config;
    auto nested = hf_config->find("vision_config");  // a whole CLIPConfig
    if (nested != hf_config->end() && nested->is_object()) {
      cfg = &*nested;
      if (with_projection) expect_config_matches(*hf_config, "projection_dim", c.projection_dim, where);
    } else if (with_projection) {
      expect_config_matches(*cfg, "projection_dim", c.projection_dim, where);
    }
    expect_config_matches(*cfg, "hidden_size", c.hidden_size, where);
    expect_config_matches(*cfg, "intermediate_size", c.intermediate_size, where);
    expect_config_matches(*cfg, "num_hidden_layers", c.num_layers, where);
    expect_config_matches(*cfg, "num_channels", c.num_channels, where);
    expect_config_matches(*cfg, "patch_size", c.patch_size, where);
    c.image_size = config_int(*cfg, "image_size", c.image_size, where);
    heads = config_int(*cfg, "num_attention_heads", heads, where);
    auto act = cfg->find("hidden_act");
    if (act != cfg->end() && !act->is_null()) {
      check(act->is_string(), where + ": config field 'hidden_act' is not a string");
      c.activation = clip_activation_from_name(act->get<std::string>());
    }
    auto eps = cfg->find("layer_norm_eps");
    if (eps != cfg->end() && !eps->is_null())
      c.layer_norm_eps = static_cast<float>(json_number(*eps, where + ": config field 'layer_norm_eps'"));
  }
  check(std::isfinite(c.layer_norm_eps) && c.layer_norm_eps > 0,
        where + ": config field 'layer_norm_eps' must be positive");
  check(c.image_size > 0 && c.image_size <= 65536 && c.image_size % c.patch_size == 0,
        where + ": image size " + std::to_string(c.image_size) +
            " is not a positive multiple of the patch size " + std::to_string(c.patch_size));
  check(c.num_tokens() == positions,
        where + ": tensor '" + w.full_name("vision_model.embeddings.position_embedding.weight") + "' has " +
            std::to_string(positions) + " positions, but image size " + std::to_string(c.image_size) +
            " in patches of " + std::to_string(c.patch_size) + " needs " + std::to_string(c.num_tokens()) +
            " (class token + patches)");
  check(pos.dim(1) == c.hidden_size,
        where + ": tensor '" + w.full_name("vision_model.embeddings.position_embedding.weight") +
            "' has shape " + shape_str(pos.shape()) + ", expected [" + std::to_string(positions) + ", " +
            std::to_string(c.hidden_size) + "]");
  check(heads > 0 && heads <= c.hidden_size && c.hidden_size % heads == 0,
        where + ": cannot split hidden size " + std::to_string(c.hidden_size) + " into " +
            (heads > 0 ? std::to_string(heads) + " heads"
                       : "heads of 64 (give num_attention_heads in config.json)"));
  c.num_heads = static_cast<int>(heads);
  return c;
}

}  // namespace i2i
