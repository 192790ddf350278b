// `i2i list`: the models in the models folder (models/model_catalog.h), as a table or as JSON.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "args.h"
#include "commands.h"
#include "core/error.h"
#include "models/model_catalog.h"
#include "models/models_folder.h"

namespace i2i::cli {
namespace {

std::string human_size(uint64_t bytes) {
  char buf[32];
  if (bytes >= (uint64_t{1} << 30))
    std::snprintf(buf, sizeof buf, "%.1f GB", static_cast<double>(bytes) / (1 << 30));
  else if (bytes >= (uint64_t{1} << 20))
    std::snprintf(buf, sizeof buf, "%.1f MB", static_cast<double>(bytes) / (1 << 20));
  else
    std::snprintf(buf, sizeof buf, "%.1f KB", static_cast<double>(bytes) / 1024);
  return buf;
}

}  // namespace

int cmd_list(int argc, char** argv) {
  std::vector<OptionSpec> specs = {
      {"json", false,
       "print JSON ({\"models_dir\": ..., \"models\": [{name, path, kind, family, size, hash, "
       "sha256, error}]})"},
      {"models-dir", true,
       "models folder in AUTOMATIC1111's or ComfyUI's layout (default $I2I_MODELS_DIR or "
       "~/.local/share/i2i/models)",
       "DIR"},
      {"help", false, "this text"}};
  Args a(argc, argv, 2, specs);
  if (a.has("help")) {
    std::printf(
        "usage: i2i list [--json] [--models-dir DIR]\n\nLists the models of the models folder with their "
        "kind, "
        "family, size and AUTOMATIC1111 short hash\n(hashes are cached: a second list reads no unchanged "
        "file).\n\n%s",
        format_options(specs).c_str());
    return 0;
  }
  if (!a.positional().empty()) throw Error("unexpected argument '" + a.positional()[0] + "'");
  const std::filesystem::path root = models_folder(a.get_or("models-dir", ""));
  if (root.empty())
    throw Error("no models folder: give --models-dir (neither I2I_MODELS_DIR nor HOME is set)");
  std::error_code ec;
  if (!std::filesystem::is_directory(root, ec))
    throw Error("the models folder " + root.string() + " does not exist (give --models-dir)");
  const std::vector<ModelListing> models = list_models(root, HashCache::user());
  if (a.has("json")) {
    nlohmann::json list = nlohmann::json::array();
    for (const ModelListing& m : models) {
      nlohmann::json j = {{"name", m.name},
                          {"path", m.path.string()},
                          {"kind", model_kind_name(m.kind)},
                          {"family", m.family},
                          {"size", m.size},
                          {"hash", m.short_hash()},
                          {"sha256", m.sha256},
                          {"from_cache", m.from_cache}};
      if (!m.error.empty()) j["error"] = m.error;
      list.push_back(j);
    }
    std::printf("%s\n", nlohmann::json({{"models_dir", root.string()}, {"models", list}})
                            .dump(1, ' ', false, nlohmann::json::error_handler_t::replace)
                            .c_str());
    return 0;
  }
  if (models.empty()) {
    std::printf("no models in %s\n", root.c_str());
    return 0;
  }
  std::printf("%-13s %-20s %9s %-10s  %s\n", "KIND", "FAMILY", "SIZE", "HASH", "NAME");
  for (const ModelListing& m : models)
    std::printf("%-13s %-20s %9s %-10s  %s%s\n", model_kind_name(m.kind).c_str(),
                m.family.empty() ? "-" : m.family.c_str(), human_size(m.size).c_str(),
                m.sha256.empty() ? "?" : m.short_hash().c_str(), m.name.c_str(),
                m.error.empty() ? "" : ("  (" + m.error + ")").c_str());
  return 0;
}

}  // namespace i2i::cli
