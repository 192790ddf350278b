#include "models/model_names.h"

#include <algorithm>
#include <set>

#include "core/error.h"
#include "io/hf_cache.h"
#include "models/models_folder.h"

namespace i2i {
namespace fs = std::filesystem;

namespace {

constexpr int kMaxDepth = 6;

bool path_exists(const fs::path& p) {
  std::error_code ec;
  return fs::exists(p, ec);
}

// A symbolic link at `p`, whether or not it leads anywhere (a dangling link or a loop is the user's file,
// reported as such by the reader, not a name to look up).
bool is_link(const fs::path& p) {
  std::error_code ec;
  return fs::is_symlink(fs::symlink_status(p, ec));
}

bool is_folder(const fs::path& p) {
  std::error_code ec;
  return fs::is_directory(p, ec);
}

// Kinds whose models may be folders (diffusers / transformers repositories).
bool folder_kind(ModelKind kind) {
  return kind == ModelKind::Checkpoint || kind == ModelKind::Vae || kind == ModelKind::ControlNet ||
         kind == ModelKind::ImageEncoder || kind == ModelKind::Lora;
}

// A value the user meant as a path, never as a name: absolute, or starting with ./ ../ ~/.
bool path_like(const std::string& s) {
  return fs::path(s).is_absolute() || s.rfind("./", 0) == 0 || s.rfind("../", 0) == 0 ||
         s.rfind("~/", 0) == 0;
}

void walk(const fs::path& dir, int depth, std::set<fs::path>& seen, std::vector<fs::path>& out) {
  std::error_code ec;
  const fs::path canonical = fs::weakly_canonical(dir, ec);
  if (ec || !seen.insert(canonical).second) return;  // a symlink loop, or a folder linked twice
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const fs::path& p = it->path();
    const std::string name = p.filename().string();
    if (name.empty() || name[0] == '.') continue;  // hidden files, .git, partial downloads
    if (is_model_entry(p)) {
      out.push_back(p);
    } else if (depth < kMaxDepth && is_folder(p)) {
      walk(p, depth + 1, seen, out);
    }
  }
}

std::string join(const std::vector<fs::path>& paths) {
  std::string out;
  for (const fs::path& p : paths) out += (out.empty() ? "" : ", ") + p.string();
  return out;
}

// Whether `entry`, found in `folder`, is what `name` names.
bool matches(const fs::path& entry, const fs::path& folder, const std::string& name) {
  const fs::path rel = entry.lexically_relative(folder);
  const bool file = !is_folder(entry);
  const auto without_ext = [&](const fs::path& p) {
    return file ? (p.parent_path() / p.stem()).generic_string() : p.generic_string();
  };
  if (name == rel.generic_string() || name == without_ext(rel)) return true;
  if (name.find('/') != std::string::npos) return false;
  return name == entry.filename().string() || (file && name == entry.stem().string());
}

}  // namespace

std::string model_kind_name(ModelKind kind) {
  switch (kind) {
    case ModelKind::Checkpoint:
      return "checkpoint";
    case ModelKind::Vae:
      return "VAE";
    case ModelKind::Lora:
      return "LoRA";
    case ModelKind::Embedding:
      return "embedding";
    case ModelKind::ControlNet:
      return "ControlNet";
    case ModelKind::IpAdapter:
      return "IP-Adapter";
    case ModelKind::ImageEncoder:
      return "image encoder";
    case ModelKind::Annotator:
      return "annotator";
  }
  return "model";
}

const std::vector<std::string>& model_kind_subfolders(ModelKind kind) {
  static const std::vector<std::string> checkpoint = {"Stable-diffusion", "checkpoints", "diffusers"};
  static const std::vector<std::string> vae = {"VAE", "vae"};
  static const std::vector<std::string> lora = {"Lora", "LyCORIS", "loras"};
  static const std::vector<std::string> embedding = {"embeddings"};
  static const std::vector<std::string> controlnet = {"ControlNet", "controlnet"};
  // sd-webui-controlnet keeps IP-Adapters with the ControlNets; ComfyUI in ipadapter/.
  static const std::vector<std::string> ip_adapter = {"ipadapter", "ControlNet"};
  static const std::vector<std::string> image_encoder = {"clip_vision"};
  // i2i's own folder; Forge keeps its preprocessors' networks in ControlNetPreprocessor/.
  static const std::vector<std::string> annotator = {"annotators", "ControlNetPreprocessor"};
  switch (kind) {
    case ModelKind::Checkpoint:
      return checkpoint;
    case ModelKind::Vae:
      return vae;
    case ModelKind::Lora:
      return lora;
    case ModelKind::Embedding:
      return embedding;
    case ModelKind::ControlNet:
      return controlnet;
    case ModelKind::IpAdapter:
      return ip_adapter;
    case ModelKind::ImageEncoder:
      return image_encoder;
    case ModelKind::Annotator:
      return annotator;
  }
  return checkpoint;
}

std::vector<fs::path> model_kind_folders(ModelKind kind, const fs::path& root) {
  std::vector<fs::path> out;
  if (root.empty()) return out;
  for (const std::string& sub : model_kind_subfolders(kind))
    if (is_folder(root / sub)) out.push_back(root / sub);
  if (kind == ModelKind::Embedding) {
    fs::path normal = root.lexically_normal();
    if (!normal.has_filename()) normal = normal.parent_path();  // "models/" -> "models"
    const fs::path beside = normal.parent_path() / "embeddings";
    if (!normal.parent_path().empty() && is_folder(beside)) out.push_back(beside);
  }
  if (kind == ModelKind::Annotator) {
    // Beside an A1111 `models/` folder: the ControlNet extension's downloads; beside a ComfyUI one: every
    // custom node's ckpts/ (controlnet_aux keeps <repo>/<file> there).
    fs::path normal = root.lexically_normal();
    if (!normal.has_filename()) normal = normal.parent_path();
    const fs::path up = normal.parent_path();
    if (!up.empty()) {
      const fs::path a1111 = up / "extensions" / "sd-webui-controlnet" / "annotator" / "downloads";
      if (is_folder(a1111)) out.push_back(a1111);
      std::vector<fs::path> nodes;
      std::error_code ec;
      for (fs::directory_iterator it(up / "custom_nodes", ec), end; !ec && it != end; it.increment(ec))
        if (is_folder(it->path() / "ckpts")) nodes.push_back(it->path() / "ckpts");
      std::sort(nodes.begin(), nodes.end());
      out.insert(out.end(), nodes.begin(), nodes.end());
    }
  }
  return out;
}

bool is_model_entry(const fs::path& entry) {
  std::error_code ec;
  if (fs::is_regular_file(entry, ec)) return entry.extension() == ".safetensors";
  if (!is_folder(entry)) return false;
  return path_exists(entry / "model_index.json") || path_exists(entry / "config.json") ||
         path_exists(entry / "pytorch_lora_weights.safetensors");
}

std::vector<fs::path> list_model_entries(const fs::path& folder) {
  std::vector<fs::path> out;
  std::set<fs::path> seen;
  if (is_folder(folder)) walk(folder, 1, seen, out);
  std::sort(out.begin(), out.end());
  return out;
}

std::string resolve_model_file(ModelKind kind, const std::string& given, const std::string& models_dir,
                               const std::string& param) {
  if (given.empty() || path_exists(given) || is_link(given)) return given;
  const std::string what = "{" + param + "} " + Error::literal("'" + given + "'");
  if (path_like(given)) throw ParameterError(what + ": no such file or folder");

  // org/name[@revision]: a repository in the Hugging Face cache.
  fs::path hub;
  std::optional<HfRepoRef> repo = folder_kind(kind) ? parse_hf_repo_ref(given) : std::nullopt;
  if (repo) {
    hub = hf_hub_cache_dir();
    if (auto snapshot = find_hf_snapshot(hub, *repo)) return snapshot->string();
  }

  const fs::path root = models_folder(models_dir);
  const std::vector<fs::path> folders = model_kind_folders(kind, root);
  std::vector<fs::path> found;
  std::set<fs::path> distinct;
  for (const fs::path& folder : folders)
    for (const fs::path& e : list_model_entries(folder)) {
      if (!matches(e, folder, given)) continue;
      std::error_code ec;
      if (distinct.insert(fs::weakly_canonical(e, ec)).second) found.push_back(e);
    }
  if (found.size() == 1) return found[0].string();
  if (found.size() > 1)
    throw ParameterError(what + " names several " + model_kind_name(kind) +
                         " files: " + Error::literal(join(found)) + " (give the path of one)");

  std::string where;
  if (root.empty()) {
    where = "no models folder (neither --models-dir, I2I_MODELS_DIR nor HOME is set)";
  } else if (folders.empty()) {
    std::string subs;
    for (const std::string& s : model_kind_subfolders(kind)) subs += (subs.empty() ? "" : ", ") + s + "/";
    where = "the models folder " + root.string() + " has none of " + subs;
  } else {
    where = "not in " + join(folders);
  }
  if (repo)
    where += hub.empty() ? "; no Hugging Face cache (HOME is not set)"
                         : "; no " + repo->repo_id + "@" + repo->revision + " in the Hugging Face cache " +
                               hub.string() + " (i2i pull " + repo->repo_id + " fetches it)";
  throw ParameterError(what + ": no such file or folder, nor a " + model_kind_name(kind) + " of that name (" +
                       Error::literal(where) + ")");
}

}  // namespace i2i
