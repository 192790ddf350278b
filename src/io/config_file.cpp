#include "io/config_file.h"

#include <fstream>

#include "core/error.h"
#include "io/python_json.h"

namespace i2i {
namespace fs = std::filesystem;

std::string read_small_file(const fs::path& path, size_t max_bytes) {
  const std::string name = path.string();
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (!fs::exists(st)) throw Error(name + ": cannot open (no such file)");
  if (fs::is_directory(st)) throw Error(name + ": is a directory, not a file");
  if (!fs::is_regular_file(st)) throw Error(name + ": not a regular file");
  const uintmax_t size = fs::file_size(path, ec);
  if (ec) throw Error(name + ": cannot read (" + ec.message() + ")");
  const Error too_big(name + ": larger than " + std::to_string(max_bytes) +
                      " bytes, too big for a config file");
  if (size > max_bytes) throw too_big;
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(name + ": cannot open");
  // Read at most max_bytes + 1, in case the file grew since its size was taken.
  std::string bytes(static_cast<size_t>(size) + 1, '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (in.bad()) throw Error(name + ": read error");
  bytes.resize(static_cast<size_t>(in.gcount()));
  if (bytes.size() > max_bytes) throw too_big;
  return bytes;
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
