#include "output_names.h"

namespace i2i::cli {
namespace fs = std::filesystem;
namespace {

// out.png, out-1.png, out-2.png, ...: the k-th candidate name.
fs::path candidate(const fs::path& base, int k) {
  if (k == 0) return base;
  fs::path p = base;
  return p.replace_filename(base.stem().string() + "-" + std::to_string(k) + base.extension().string());
}

}  // namespace

fs::path next_output(const fs::path& base, int& next, bool overwrite) {
  fs::path out = candidate(base, next++);
  if (!overwrite)
    while (fs::exists(out)) out = candidate(base, next++);
  return out;
}

}  // namespace i2i::cli
