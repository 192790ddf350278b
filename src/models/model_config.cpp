#include "models/model_config.h"

namespace i2i {

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
