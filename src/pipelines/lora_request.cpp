#include "pipelines/lora_request.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <map>
#include <optional>

#include "core/error.h"
#include "io/regular_file.h"
#include "models/models_folder.h"
#include "pipelines/infotext.h"

namespace i2i {
namespace fs = std::filesystem;

namespace {

bool is_word_byte(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c >= 0x80;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out(1);
  for (char c : s) {
    if (c == sep)
      out.emplace_back();
    else
      out.back() += c;
  }
  return out;
}

// Python's float() of a tag argument (surrounding whitespace allowed); nullopt when it is none.
std::optional<double> python_float(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  const std::string t = s.substr(b, e - b);
  if (t.empty()) return std::nullopt;
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(t.c_str(), &end);
  if (*end != '\0' || errno == ERANGE || !std::isfinite(v)) return std::nullopt;
  return v;
}

const char* const kDiffusersLoraFile = "pytorch_lora_weights.safetensors";

// A1111's ExtraNetworkLora.activate: name, te multiplier (positional 1 or te=, default 1), unet multiplier
// (positional 2 or unet=, default the te one).
RequestLora lora_from_tag(const ExtraNetworkTag& tag, const fs::path& folder) {
  std::vector<std::string> positional;
  std::map<std::string, std::string> named;
  for (const std::string& item : tag.args) {
    const auto parts = split(item, '=');
    if (parts.size() == 2)
      named[parts[0]] = parts[1];
    else
      positional.push_back(item);
  }
  const std::string text = "<" + tag.network + ":" + [&] {
    std::string a;
    for (size_t i = 0; i < tag.args.size(); ++i) a += (i ? ":" : "") + tag.args[i];
    return a;
  }() + ">";
  if (positional.empty() || positional[0].empty())
    throw ParameterError("{prompt}: " + Error::literal(text) + " names no LoRA");
  auto number = [&](const std::string& v) {
    auto d = python_float(v);
    if (!d)
      throw ParameterError("{prompt}: " + Error::literal(text) + ": the multiplier '" + Error::literal(v) +
                           "' is not a number");
    if (std::fabs(*d) > kMaxLoraMultiplier)
      throw ParameterError("{prompt}: " + Error::literal(text) + ": the multiplier " + Error::literal(v) +
                           " is out of range (-" + std::to_string(static_cast<int>(kMaxLoraMultiplier)) +
                           " .. " + std::to_string(static_cast<int>(kMaxLoraMultiplier)) + ")");
    return *d;
  };
  RequestLora l;
  l.name = positional[0];
  l.te_multiplier = positional.size() > 1 ? number(positional[1]) : 1.0;
  if (named.count("te")) l.te_multiplier = number(named["te"]);
  l.unet_multiplier = positional.size() > 2 ? number(positional[2]) : l.te_multiplier;
  if (named.count("unet")) l.unet_multiplier = number(named["unet"]);
  l.file = find_lora(l.name, folder);
  return l;
}

}  // namespace

std::string remove_extra_networks(const std::string& prompt, std::vector<ExtraNetworkTag>* tags) {
  std::string out;
  size_t i = 0;
  const size_t n = prompt.size();
  while (i < n) {
    if (prompt[i] == '<') {
      size_t j = i + 1;
      while (j < n && is_word_byte(static_cast<unsigned char>(prompt[j]))) ++j;
      if (j > i + 1 && j < n && prompt[j] == ':') {
        size_t k = j + 1;
        while (k < n && prompt[k] != '>') ++k;
        if (k < n && k > j + 1) {  // <(\w+):([^>]+)>
          if (tags)
            tags->push_back({prompt.substr(i + 1, j - i - 1), split(prompt.substr(j + 1, k - j - 1), ':')});
          i = k + 1;
          continue;
        }
      }
    }
    out += prompt[i++];
  }
  return out;
}

fs::path lora_weights_file(const fs::path& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    const fs::path f = path / kDiffusersLoraFile;
    if (fs::is_regular_file(f, ec)) return f;
    throw Error(path.string() + ": a folder without " + kDiffusersLoraFile + " (not a diffusers LoRA)");
  }
  if (!fs::exists(path, ec)) {
    const std::string why = missing_path_reason(path);  // (a link loop, a dangling link ...)
    throw Error(path.string() + ": " + (why == "no such file or folder" ? "no such LoRA file" : why));
  }
  return path;
}

fs::path find_lora(const std::string& name, const fs::path& folder) {
  std::error_code ec;
  const std::string where =
      folder.empty() ? "no LoRA folder (give --lora-dir or --models-dir)" : folder.string();
  auto match = [&](const fs::path& dir) -> std::optional<fs::path> {
    const fs::path file = dir / (name + ".safetensors");
    if (fs::is_regular_file(file, ec)) return file;
    if (fs::is_regular_file(dir / name / kDiffusersLoraFile, ec)) return dir / name / kDiffusersLoraFile;
    return std::nullopt;
  };
  if (!folder.empty() && name.find('/') == std::string::npos && name != "." && name != "..") {
    if (auto f = match(folder)) return *f;
    if (fs::is_directory(folder, ec))
      for (auto it =
               fs::recursive_directory_iterator(folder, fs::directory_options::skip_permission_denied, ec);
           !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
        if (it->is_directory(ec))
          if (auto f = match(it->path())) return *f;
  }
  throw Error("LoRA '" + name + "' not found in " + where + " (looked for " + name + ".safetensors and " +
              name + "/" + kDiffusersLoraFile + ", sub-folders included)");
}

std::vector<RequestLora> request_loras(const GenerationParams& p) {
  std::vector<RequestLora> out;
  for (const LoraParams& l : p.loras) {
    RequestLora r;
    r.file = lora_weights_file(l.file);
    const fs::path named = fs::path(l.file);
    r.name =
        (r.file.filename() == kDiffusersLoraFile ? r.file.parent_path().filename() : named.stem()).string();
    r.te_multiplier = l.te_multiplier;
    r.unet_multiplier = l.unet_multiplier;
    out.push_back(std::move(r));
  }
  std::vector<ExtraNetworkTag> tags;
  remove_extra_networks(p.prompt, &tags);
  bool any = false;
  for (const ExtraNetworkTag& t : tags) any = any || t.network == "lora" || t.network == "lyco";
  if (!any) return out;
  const fs::path folder = lora_folder(p.lora_dir, p.models_dir);
  for (const ExtraNetworkTag& t : tags)
    if (t.network == "lora" || t.network == "lyco") out.push_back(lora_from_tag(t, folder));
  return out;
}

std::string lora_param_tags(const GenerationParams& p) {
  std::string out;
  for (const LoraParams& l : p.loras) {
    std::error_code ec;
    const fs::path f(l.file);
    const std::string name = (fs::is_directory(f, ec) ? f.filename() : f.stem()).string();
    out += "<lora:" + name + ":" + format_number(l.te_multiplier);
    if (l.unet_multiplier != l.te_multiplier) {
      out += ':';
      out += format_number(l.unet_multiplier);
    }
    out += '>';
  }
  return out;
}

std::string lora_hashes(const std::vector<RequestLora>& loras) {
  std::string out;
  for (const RequestLora& l : loras) {
    std::string hash;
    try {
      hash = lora_short_hash(l.file);
    } catch (const Error&) {
      continue;
    }
    if (hash.empty()) continue;
    std::string alias;
    for (char c : l.name)
      if (c != ':' && c != ',') alias += c;
    if (alias.empty()) continue;
    out += (out.empty() ? "" : ", ") + alias + ": " + hash;
  }
  return out;
}

namespace {

// SDXL's second text encoder, for models that have one (SdModel::text_encoder_2).
template <typename Model>
void add_second_text_encoder(LoraLayers& layers, Model& model) {
  if constexpr (requires { model.text_encoder_2.visit_layers(std::string(), LayerVisitor()); })
    layers.add_component(LoraComponent::TextEncoder2,
                         [&](const LayerVisitor& f) { model.text_encoder_2.visit_layers("", f); });
}

}  // namespace

std::unique_ptr<LoraLayers> model_lora_layers(SdModel& model) {
  const Checkpoint& ck = model.checkpoint;
  const std::string family = ck.family == ModelFamily::SDXL  ? "SDXL"
                             : ck.family == ModelFamily::SD2 ? "SD 2.x"
                                                             : "SD 1.x";
  auto layers =
      std::make_unique<LoraLayers>(ck.path.filename().string(), family, model.unet.config().layers_per_block);
  layers->add_component(LoraComponent::Unet, [&](const LayerVisitor& f) { model.unet.visit_layers("", f); });
  layers->add_component(LoraComponent::TextEncoder,
                        [&](const LayerVisitor& f) { model.text_encoder.visit_layers("", f); });
  add_second_text_encoder(*layers, model);
  return layers;
}

}  // namespace i2i
