#include "models/model_hash.h"

#include <cctype>

#include "core/error.h"
#include "io/file_hash.h"
#include "models/checkpoint.h"

namespace i2i {
namespace fs = std::filesystem;

namespace {

// `p` without a trailing separator ("models/sd15/" -> "models/sd15"), so that its file name is the folder's.
fs::path without_trailing_slash(const fs::path& p) {
  fs::path out = p;
  while (!out.empty() && !out.has_filename() && out.has_parent_path() && out != out.root_path())
    out = out.parent_path();
  return out;
}

bool is_dir(const fs::path& p) {
  std::error_code ec;
  return fs::is_directory(p, ec);
}

}  // namespace

std::string model_stem(const fs::path& model) {
  const fs::path p = without_trailing_slash(model);
  return (is_dir(p) ? p.filename() : p.stem()).string();
}

std::string vae_file_name(const fs::path& vae) {
  return without_trailing_slash(vae).filename().string();
}

fs::path model_hash_file(const fs::path& model) {
  const fs::path p = without_trailing_slash(model);
  if (!is_dir(p)) return p;
  for (const char* sub : {"unet", "controlnet"})
    if (is_dir(p / sub)) {
      if (fs::path f = diffusers_weights_file(p / sub); !f.empty()) return f;
    }
  if (fs::path f = diffusers_weights_file(p); !f.empty()) return f;
  throw Error(p.string() + ": no weights file (unet/diffusion_pytorch_model.safetensors or " +
              "diffusion_pytorch_model.safetensors) to name the model by");
}

std::string model_short_hash(const fs::path& model) {
  return HashCache::user().sha256(model_hash_file(model)).substr(0, 10);
}

std::string controlnet_short_hash(const fs::path& model) {
  return legacy_model_hash(model_hash_file(model));
}

bool model_hash_matches(const fs::path& model, const std::string& recorded) {
  std::string want;
  for (char c : recorded) {
    const char l = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (!std::isxdigit(static_cast<unsigned char>(l))) return false;
    want += l;
  }
  if (want.size() == 8) return legacy_model_hash(model_hash_file(model)) == want;
  if (want.size() < 10 || want.size() > 64) return false;
  return HashCache::user().sha256(model_hash_file(model)).compare(0, want.size(), want) == 0;
}

}  // namespace i2i
