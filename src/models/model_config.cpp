#include "models/model_config.h"

#include <fstream>

namespace i2i {

nlohmann::json read_json_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw Error(path.string() + ": cannot open file");
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw Error(path.string() + ": invalid json (" + std::string(e.what()) + ")");
  }
}

int count_indexed(const Weights& w, const std::string& prefix) {
  int n = 0;
  for (;; ++n) {
    std::string p = prefix + std::to_string(n) + ".";
    auto it = w.all().lower_bound(p);
    if (it == w.all().end() || it->first.compare(0, p.size(), p) != 0) break;
  }
  return n;
}

}  // namespace i2i
