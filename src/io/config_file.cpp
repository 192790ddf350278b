#include "io/config_file.h"

#include "core/error.h"
#include "io/python_json.h"
#include "io/regular_file.h"

namespace i2i {
namespace fs = std::filesystem;

std::string read_small_file(const fs::path& path, size_t max_bytes) {
  return read_regular_file(path, max_bytes, "a config file");
}

std::string printable_excerpt(std::string_view text, size_t max_chars) {
  std::string out;
  for (char c : text.substr(0, max_chars)) {
    const unsigned char u = static_cast<unsigned char>(c);
    out += u >= 0x20 && u < 0x7f ? c : '?';
  }
  if (text.size() > max_chars) out += "...";
  return out;
}

nlohmann::json read_config_json(const fs::path& path) {
  nlohmann::json j = parse_python_json(read_small_file(path, kMaxConfigJsonBytes), path.string());
  if (!j.is_object())
    throw Error(path.string() + ": expected a JSON object, got " + std::string(j.type_name()));
  return j;
}

int64_t config_int(const nlohmann::json& cfg, const char* key, int64_t fallback, const std::string& where) {
  auto it = cfg.find(key);
  if (it == cfg.end() || it->is_null()) return fallback;
  if (!it->is_number_integer()) throw Error(where + ": config field '" + key + "' is not an integer");
  return it->get<int64_t>();
}

void expect_config_matches(const nlohmann::json& cfg, const char* key, int64_t from_shapes,
                           const std::string& where) {
  const int64_t v = config_int(cfg, key, from_shapes, where);
  if (v != from_shapes)
    throw Error(where + ": config says " + key + " = " + std::to_string(v) + " but the weights give " +
                std::to_string(from_shapes));
}

}  // namespace i2i
