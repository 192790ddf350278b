#include "output_names.h"

#include <cctype>

#include "core/error.h"

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

void check_png_output(const fs::path& path) {
  std::string ext = path.extension().string();
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (ext != ".png")
    throw Error("--output " + path.string() +
                ": i2i writes PNG files (they carry the generation parameters); " + "use a .png name");
  const fs::path dir = path.parent_path();
  if (!dir.empty() && !fs::is_directory(dir))
    throw Error("--output " + path.string() + ": no folder " + dir.string());
}

}  // namespace i2i::cli
