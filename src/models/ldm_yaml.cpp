// read_ldm_yaml (declared in models/checkpoint.h): the few keys i2i uses from an LDM / A1111 .yaml config,
// found by their nested path with yaml-cpp.
#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/yaml.h>

#include <optional>
#include <string>
#include <vector>

#include "core/error.h"
#include "io/config_file.h"
#include "models/checkpoint.h"
#include "models/vae_config.h"

namespace i2i {
namespace {

// The largest LDM config read. Real ones are 2-5 KiB; yaml-cpp builds a few microseconds' worth of nodes
// per value, so this bounds a hostile file (a flow list of 128k values) to about a second of parsing.
constexpr size_t kMaxLdmYamlBytes = size_t{256} << 10;

using KeyPath = std::vector<std::string>;

std::string dotted(const KeyPath& path) {
  std::string s;
  for (const std::string& k : path) s += (s.empty() ? "" : ".") + k;
  return s;
}

// The value at `path` (mapping keys, outermost first) below `node`; nullopt where a level is missing, null
// or not a mapping. Only the mappings on the path are visited, so aliases elsewhere (a "billion laughs"
// bomb) are never expanded. A repeated key: the last one counts, as in PyYAML.
std::optional<YAML::Node> find(const YAML::Node& node, const KeyPath& path, size_t level = 0) {
  if (level == path.size()) return node.IsNull() ? std::nullopt : std::optional<YAML::Node>(node);
  if (!node.IsMap()) return std::nullopt;
  std::optional<YAML::Node> value;
  for (const auto& kv : node) {
    if (!kv.first.IsScalar() || kv.first.Scalar() != path[level]) continue;
    value.reset();  // not `value = ...`: assigning a YAML::Node rewrites the node it refers to
    value.emplace(kv.second);
  }
  return value ? find(*value, path, level + 1) : std::nullopt;
}

// The scalar at `base` + `key` as T; nullopt when absent or null; i2i::Error naming the file and the key
// path when it is a list or mapping or does not read as T (`kind` says what was expected).
template <typename T>
std::optional<T> value_at(const YAML::Node& root, const KeyPath& base, const std::string& key,
                          const char* kind, const std::string& file) {
  const std::optional<YAML::Node> parent = find(root, base);
  const std::optional<YAML::Node> node = parent ? find(*parent, KeyPath{key}) : std::nullopt;
  if (!node) return std::nullopt;
  const std::string name = dotted(base) + "." + key;
  if (!node->IsScalar()) throw Error(file + ": " + name + " is not a single value");
  T value;
  if (!YAML::convert<T>::decode(*node, value))
    throw Error(file + ": " + name + " = '" + printable_excerpt(node->Scalar(), 60) + "' is not " + kind);
  return value;
}

YAML::Node parse_yaml(const std::string& text, const std::string& file) {
  if (text.find('\0') != std::string::npos) throw Error(file + ": not a YAML text file (it holds NUL bytes)");
  try {
    return YAML::Load(text);
  } catch (const YAML::DeepRecursion& e) {  // yaml-cpp's guard against stack overflow
    throw Error(file + ": invalid YAML (nested deeper than " + std::to_string(e.depth() - 1) + " levels)");
  } catch (const YAML::Exception& e) {
    throw Error(file + ": invalid YAML (" + printable_excerpt(e.what()) + ")");
  }
}

// The UNet settings of model.params.unet_config.params (SD 1.x / 2.x; SDXL's sgm configs call it
// network_config) as diffusers UNet config keys.
void read_unet_params(const YAML::Node& root, nlohmann::json& out, const std::string& file) {
  KeyPath unet = {"model", "params", "unet_config", "params"};
  if (!find(root, unet)) unet = {"model", "params", "network_config", "params"};
  if (auto v = value_at<int>(root, unet, "num_heads", "an integer", file); v && *v > 0)
    out["unet"]["attention_head_dim"] = *v;
  if (auto v = value_at<int>(root, unet, "num_head_channels", "an integer", file); v && *v > 0)
    out["unet"]["i2i_head_dim"] = *v;
  if (auto v = value_at<bool>(root, unet, "use_linear_in_transformer", "true or false", file))
    out["unet"]["use_linear_projection"] = *v;
  if (auto v = value_at<int>(root, unet, "context_dim", "an integer", file))
    out["unet"]["cross_attention_dim"] = *v;
}

}  // namespace

nlohmann::json read_ldm_yaml(const std::filesystem::path& path) {
  const std::string file = path.string();
  const YAML::Node root = parse_yaml(read_small_file(path, kMaxLdmYamlBytes), file);
  const std::optional<YAML::Node> model = find(root, {"model"});
  if (!model || !model->IsMap())
    throw Error(file + ": not an LDM model config (no top-level 'model:' mapping)");
  nlohmann::json out = nlohmann::json::object();
  const KeyPath params = {"model", "params"};
  if (auto v = value_at<std::string>(root, params, "parameterization", "a string", file)) {
    if (*v != "eps" && *v != "v")
      throw Error(file + ": model.params.parameterization '" + printable_excerpt(*v, 60) +
                  "' is not supported (eps or v)");
    out["prediction_type"] = *v == "v" ? "v_prediction" : "epsilon";
  } else if (find(root, {"model", "params", "unet_config"})) {
    // LatentDiffusion's default: A1111's v2-inference.yaml (SD 2.x 512-base) says nothing and means eps.
    out["prediction_type"] = "epsilon";
  }
  if (auto v = value_at<double>(root, params, "scale_factor", "a number", file)) {
    checked_vae_scaling_factor(*v, file + ": model.params.scale_factor");  // refused when read
    out["vae_scaling_factor"] = *v;
  }
  read_unet_params(root, out, file);
  return out;
}

}  // namespace i2i
