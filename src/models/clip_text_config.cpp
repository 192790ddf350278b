#include "models/clip_text_config.h"

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/config_file.h"
#include "io/python_json.h"

namespace i2i {

int count_clip_layers(const Weights& w) {
  int n = 0;
  while (w.sub("text_model.encoder.layers." + std::to_string(n) + ".").size() != 0) ++n;
  return n;
}

ClipTextConfig infer_clip_text_config(const Weights& w, const nlohmann::json* hf_config,
                                      ClipActivation default_activation, bool with_projection,
                                      int layers_to_use, const std::string& config_origin) {
  const std::string where = w.origin();
  ClipTextConfig c;
  const Tensor& tok = w.get("text_model.embeddings.token_embedding.weight");
  check(tok.ndim() == 2, where + ": tensor '" + w.full_name("text_model.embeddings.token_embedding.weight") +
                             "' has shape " + shape_str(tok.shape()) + ", expected [vocab, hidden]");
  c.vocab_size = tok.dim(0);
  c.hidden_size = tok.dim(1);
  const Tensor& pos = w.get("text_model.embeddings.position_embedding.weight");
  check(pos.ndim() == 2, where + ": tensor '" +
                             w.full_name("text_model.embeddings.position_embedding.weight") + "' has shape " +
                             shape_str(pos.shape()) + ", expected [positions, hidden]");
  c.max_positions = pos.dim(0);

  const int present = count_clip_layers(w);
  check(present > 0, where + ": no tensors 'text_model.encoder.layers.0.*' (" +
                         w.full_name("text_model.encoder.layers.0.") + "...)");
  check(layers_to_use <= present, where + ": " + std::to_string(layers_to_use) +
                                      " CLIP layers requested but only " + std::to_string(present) +
                                      " present");
  c.num_layers = layers_to_use < 0 ? present : layers_to_use;
  check(c.num_layers > 0, where + ": a CLIP text encoder needs at least one layer");
  const Tensor& fc1 = w.get("text_model.encoder.layers.0.mlp.fc1.weight");
  check(fc1.ndim() == 2, where + ": tensor '" + w.full_name("text_model.encoder.layers.0.mlp.fc1.weight") +
                             "' has shape " + shape_str(fc1.shape()) + ", expected [intermediate, hidden]");
  c.intermediate_size = fc1.dim(0);
  if (with_projection) {
    const Tensor& p = w.get("text_projection.weight");
    check(p.ndim() == 2, where + ": tensor '" + w.full_name("text_projection.weight") + "' has shape " +
                             shape_str(p.shape()) + ", expected [projection, hidden]");
    c.projection_dim = p.dim(0);
  }

  c.activation = default_activation;
  int64_t heads = c.hidden_size % 64 == 0 ? c.hidden_size / 64 : 0;
  if (hf_config != nullptr) {
    const nlohmann::json& cfg = *hf_config;
    // Config errors name the config file (when known), not the weights.
    const std::string cfg_where = config_origin.empty() ? where : config_origin;
    check(cfg.is_object(), cfg_where + ": the text encoder config is not a JSON object");
    expect_config_matches(cfg, "vocab_size", c.vocab_size, cfg_where);
    expect_config_matches(cfg, "hidden_size", c.hidden_size, cfg_where);
    expect_config_matches(cfg, "intermediate_size", c.intermediate_size, cfg_where);
    expect_config_matches(cfg, "max_position_embeddings", c.max_positions, cfg_where);
    expect_config_matches(cfg, "num_hidden_layers", c.num_layers, cfg_where);
    heads = config_int(cfg, "num_attention_heads", heads, cfg_where);
    auto act = cfg.find("hidden_act");
    if (act != cfg.end() && !act->is_null()) {
      check(act->is_string(), cfg_where + ": config field 'hidden_act' is not a string");
      c.activation = clip_activation_from_name(act->get<std::string>());
    }
    auto eps = cfg.find("layer_norm_eps");
    if (eps != cfg.end() && !eps->is_null()) {
      const double e = json_number(*eps, cfg_where + ": config field 'layer_norm_eps'");
      check(e > 0 && e < 1, cfg_where + ": config field 'layer_norm_eps' must be a small positive number");
      c.layer_norm_eps = static_cast<float>(e);
    }
  }
  check(heads > 0 && c.hidden_size % heads == 0,
        where + ": cannot split hidden size " + std::to_string(c.hidden_size) + " into " +
            (heads > 0 ? std::to_string(heads) + " heads"
                       : "heads of 64 (give num_attention_heads in a config)"));
  c.num_heads = static_cast<int>(heads);
  return c;
}

}  // namespace i2i
