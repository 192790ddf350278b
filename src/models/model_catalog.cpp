#include "models/model_catalog.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <set>

#include "core/error.h"
#include "io/config_file.h"
#include "io/safetensors.h"
#include "models/annotator_file.h"
#include "models/checkpoint.h"
#include "models/model_hash.h"

namespace i2i {
namespace fs = std::filesystem;

namespace {

constexpr ModelKind kKinds[] = {ModelKind::Checkpoint,   ModelKind::Vae,        ModelKind::Lora,
                                ModelKind::Embedding,    ModelKind::ControlNet, ModelKind::IpAdapter,
                                ModelKind::ImageEncoder, ModelKind::Annotator};

bool path_exists(const fs::path& p) {
  std::error_code ec;
  return fs::exists(p, ec);
}

std::string lower(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

bool any_key(const SafeTensors& st, const std::function<bool(const std::string&)>& f) {
  return std::any_of(st.names().begin(), st.names().end(), f);
}

// " Turbo" / " LCM" when the name or the modelspec metadata says so.
std::string distillation(const std::string& name, const std::map<std::string, std::string>& metadata) {
  std::string text = lower(name);
  for (const char* key : {"modelspec.title", "modelspec.architecture", "modelspec.description"})
    if (auto it = metadata.find(key); it != metadata.end()) text += " " + lower(it->second.substr(0, 512));
  if (text.find("turbo") != std::string::npos) return " Turbo";
  if (text.find("lcm") != std::string::npos) return " LCM";
  return "";
}

std::string checkpoint_family(const Checkpoint& ck, const std::string& tag) {
  std::string f;
  switch (ck.family) {
    case ModelFamily::SD1:
      f = "SD 1.x";
      break;
    case ModelFamily::SD2:
      f = "SD 2.x";
      break;
    case ModelFamily::SDXL:
      f = ck.refiner ? "SDXL refiner" : (tag == " Turbo" ? "SDXL" : "SDXL base");
      break;
    default:
      return "";
  }
  if (ck.inpainting) f += " inpaint";
  return f + tag;
}

// time_cond_proj_dim in a diffusers UNet config: an LCM-distilled UNet.
bool lcm_unet(const fs::path& folder) {
  for (const fs::path& config : {folder / "unet" / "config.json", folder / "config.json"}) {
    if (!path_exists(config)) continue;
    try {
      const nlohmann::json j = read_config_json(config);
      const auto it = j.find("time_cond_proj_dim");
      return it != j.end() && it->is_number_integer() && it->get<int64_t>() > 0;
    } catch (const Error&) {
      return false;
    }
  }
  return false;
}

std::string lora_family(const SafeTensors& st) {
  const auto& md = st.metadata();
  if (auto it = md.find("ss_base_model_version"); it != md.end()) {
    const std::string v = lower(it->second);
    if (v.find("sdxl") != std::string::npos) return "SDXL";
    if (starts_with(v, "sd_v1")) return "SD 1.x";
    if (starts_with(v, "sd_v2")) return "SD 2.x";
  }
  if (any_key(st, [](const std::string& k) {
        return starts_with(k, "lora_te2_") || starts_with(k, "lora_te1_") ||
               starts_with(k, "text_encoder_2.") || starts_with(k, "lora_unet_input_blocks_") ||
               starts_with(k, "lora_unet_output_blocks_");
      }))
    return "SDXL";
  return "SD 1.x/2.x";
}

std::string embedding_family(const SafeTensors& st) {
  if (st.contains("clip_g")) return "SDXL";
  for (const std::string& k : st.names()) {
    const auto& shape = st.info(k).shape;
    if (shape.empty()) continue;
    if (shape.back() == 768) return "SD 1.x";
    if (shape.back() == 1024) return "SD 2.x";
  }
  return "SD 1.x/2.x";
}

std::string ip_adapter_family(const SafeTensors& st) {
  std::set<std::string> layers;
  for (const std::string& k : st.names())
    if (starts_with(k, "ip_adapter.")) layers.insert(k.substr(0, k.find('.', 11)));
  return layers.size() > 16 ? "SDXL" : "SD 1.x";
}

std::string controlnet_family(const SafeTensors& st) {
  if (any_key(st, [](const std::string& k) {
        return starts_with(k, "control_model.label_emb.") || starts_with(k, "add_embedding.");
      }))
    return "SDXL";
  for (const std::string& k : st.names()) {
    const bool proj_in = k.find(".proj_in.weight") != std::string::npos;
    if (proj_in) return st.info(k).shape.size() == 2 ? "SD 2.x" : "SD 1.x";
  }
  return "";
}

bool is_lora_key(const std::string& k) {
  return starts_with(k, "lora_") || k.find(".lora_down.") != std::string::npos ||
         k.find(".lora_A.") != std::string::npos || k.find(".lora.down.") != std::string::npos ||
         k.find("lora_linear_layer") != std::string::npos;
}

ModelClass classify_file(const fs::path& file, ModelKind folder_kind) {
  const SafeTensors st = SafeTensors::open(file);
  // An annotator folder's files are annotators; the family is what their tensor names say.
  if (folder_kind == ModelKind::Annotator) return {ModelKind::Annotator, annotator_kind(st)};
  if (any_key(st, [](const std::string& k) { return starts_with(k, "ip_adapter."); }))
    return {ModelKind::IpAdapter, ip_adapter_family(st)};
  if (st.names().size() <= 3 && (st.contains("emb_params") || st.contains("clip_l") || st.contains("clip_g")))
    return {ModelKind::Embedding, embedding_family(st)};
  if (any_key(st, is_lora_key)) return {ModelKind::Lora, lora_family(st)};
  if (folder_kind == ModelKind::ImageEncoder) return {ModelKind::ImageEncoder, "CLIP vision"};
  const Checkpoint ck = open_checkpoint(file);
  if (ck.family == ModelFamily::ControlNet) return {ModelKind::ControlNet, controlnet_family(st)};
  if (ck.family == ModelFamily::VAE) return {ModelKind::Vae, ""};
  return {ModelKind::Checkpoint, checkpoint_family(ck, distillation(file.stem().string(), st.metadata()))};
}

ModelClass classify_folder(const fs::path& dir, ModelKind folder_kind) {
  if (path_exists(dir / "pytorch_lora_weights.safetensors"))
    return {ModelKind::Lora, lora_family(SafeTensors::open(dir / "pytorch_lora_weights.safetensors"))};
  if (!path_exists(dir / "model_index.json") && path_exists(dir / "config.json")) {
    const nlohmann::json config = read_config_json(dir / "config.json");
    const std::string cls = config.is_object() ? config.value("_class_name", "") : "";
    const bool vision =
        config.is_object() &&
        (config.contains("vision_config") || lower(config.value("model_type", "")).find("clip_vision") == 0);
    if (vision || (cls.empty() && folder_kind == ModelKind::ImageEncoder))
      return {ModelKind::ImageEncoder, "CLIP vision"};
    if (cls == "AutoencoderKL") {
      const auto sf = config.find("scaling_factor");
      const bool xl = sf != config.end() && sf->is_number() && std::abs(sf->get<double>() - 0.13025) < 1e-6;
      return {ModelKind::Vae, xl ? "SDXL" : ""};
    }
    if (cls == "ControlNetModel") {
      const fs::path w = diffusers_weights_file(dir);
      return {ModelKind::ControlNet, w.empty() ? "" : controlnet_family(SafeTensors::open(w))};
    }
  }
  const Checkpoint ck = open_checkpoint(dir);
  if (ck.family == ModelFamily::ControlNet) return {ModelKind::ControlNet, ""};
  if (ck.family == ModelFamily::VAE) return {ModelKind::Vae, ""};
  std::string tag = distillation(dir.filename().string(), {});
  if (tag.empty() && lcm_unet(dir)) tag = " LCM";
  return {ModelKind::Checkpoint, checkpoint_family(ck, tag)};
}

// The file an entry's hash (and the cached information) belongs to.
fs::path hashed_file(const fs::path& entry) {
  if (path_exists(entry / "pytorch_lora_weights.safetensors"))
    return entry / "pytorch_lora_weights.safetensors";
  return model_hash_file(entry);
}

uint64_t entry_size(const fs::path& entry) {
  std::error_code ec;
  if (!fs::is_directory(entry, ec)) {
    const auto n = fs::file_size(entry, ec);
    return ec ? 0 : n;
  }
  uint64_t total = 0;
  for (fs::recursive_directory_iterator it(entry, fs::directory_options::follow_directory_symlink, ec), end;
       !ec && it != end; it.increment(ec)) {
    if (it.depth() > 8) it.disable_recursion_pending();
    std::error_code e2;
    if (fs::is_regular_file(it->path(), e2)) total += fs::file_size(it->path(), e2);
  }
  return total;
}

std::string one_line(std::string s) {
  for (char& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  return s;
}

}  // namespace

bool model_kind_from_name(const std::string& name, ModelKind* kind) {
  for (ModelKind k : kKinds)
    if (model_kind_name(k) == name) {
      *kind = k;
      return true;
    }
  return false;
}

ModelClass classify_model(const fs::path& entry, ModelKind folder_kind) {
  std::error_code ec;
  return fs::is_directory(entry, ec) ? classify_folder(entry, folder_kind)
                                     : classify_file(entry, folder_kind);
}

std::vector<ModelListing> list_models(const fs::path& root, HashCache& cache) {
  std::vector<ModelListing> out;
  std::set<fs::path> listed;
  for (ModelKind folder_kind : kKinds)
    for (const fs::path& folder : model_kind_folders(folder_kind, root))
      for (const fs::path& entry : list_model_entries(folder)) {
        std::error_code ec;
        // Annotators are single files (a downloaded repository's folder there is no annotator).
        if (folder_kind == ModelKind::Annotator && fs::is_directory(entry, ec)) continue;
        if (!listed.insert(fs::weakly_canonical(entry, ec)).second) continue;
        ModelListing m;
        m.path = entry;
        fs::path rel = entry.lexically_relative(folder);
        if (entry.extension() == ".safetensors" && !fs::is_directory(entry, ec)) rel.replace_extension();
        m.name = rel.generic_string();
        m.kind = folder_kind;
        m.size = entry_size(entry);
        try {
          const fs::path file = hashed_file(entry);
          const std::string info = cache.known_info(file);
          const size_t bar = info.find('|');
          ModelKind cached_kind;
          if (bar != std::string::npos && model_kind_from_name(info.substr(0, bar), &cached_kind)) {
            m.kind = cached_kind;
            m.family = info.substr(bar + 1);
            m.sha256 = cache.known_sha256(file);
            m.from_cache = !m.sha256.empty();
          }
          if (!m.from_cache) {
            const ModelClass c = classify_model(entry, folder_kind);
            m.kind = c.kind;
            m.family = c.family;
            cache.set_info(file, model_kind_name(c.kind) + "|" + c.family);
            m.sha256 = cache.sha256(file);
          }
        } catch (const Error& e) {
          m.error = one_line(e.what());
        }
        out.push_back(std::move(m));
      }
  std::stable_sort(out.begin(), out.end(), [](const ModelListing& a, const ModelListing& b) {
    return a.kind != b.kind ? static_cast<int>(a.kind) < static_cast<int>(b.kind) : a.name < b.name;
  });
  return out;
}

}  // namespace i2i
