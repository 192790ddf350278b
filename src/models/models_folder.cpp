#include "models/models_folder.h"

#include <cstdlib>

namespace i2i {
namespace fs = std::filesystem;

namespace {

// An environment variable's value when it is set to an absolute path, else "".
fs::path absolute_env(const char* name) {
  const char* v = std::getenv(name);
  if (v && *v && fs::path(v).is_absolute()) return fs::path(v);
  return {};
}

}  // namespace

fs::path models_folder(const std::string& given) {
  if (!given.empty()) return fs::path(given);
  if (const char* v = std::getenv("I2I_MODELS_DIR"); v && *v) return fs::path(v);
  if (fs::path xdg = absolute_env("XDG_DATA_HOME"); !xdg.empty()) return xdg / "i2i" / "models";
  if (fs::path home = absolute_env("HOME"); !home.empty())
    return home / ".local" / "share" / "i2i" / "models";
  return {};
}

fs::path lora_folder(const std::string& given, const std::string& models_dir) {
  if (!given.empty()) return fs::path(given);
  const fs::path root = models_folder(models_dir);
  if (root.empty()) return {};
  std::error_code ec;
  if (!fs::is_directory(root / "Lora", ec) && fs::is_directory(root / "loras", ec)) return root / "loras";
  return root / "Lora";
}

fs::path embeddings_folder(const std::string& given, const std::string& models_dir) {
  if (!given.empty()) return fs::path(given);
  const fs::path root = models_folder(models_dir);
  if (root.empty()) return {};
  std::error_code ec;
  const fs::path inside = root / "embeddings";
  fs::path normal = root.lexically_normal();
  if (!normal.has_filename()) normal = normal.parent_path();  // "models/" -> "models"
  const fs::path beside = normal.parent_path() / "embeddings";
  if (!fs::is_directory(inside, ec) && fs::is_directory(beside, ec)) return beside;
  return inside;
}

}  // namespace i2i
