#include "output_names.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <climits>

#include "core/error.h"
#include "io/temp_files.h"

namespace i2i::cli {
namespace fs = std::filesystem;
namespace {

// out.png, out-1.png, out-2.png, ...: the k-th candidate name.
fs::path candidate(const fs::path& base, int64_t k) {
  if (k == 0) return base;
  fs::path p = base;
  return p.replace_filename(base.stem().string() + "-" + std::to_string(k) + base.extension().string());
}

// Whether anything is at `p`: a file, a folder, a link (dangling or not), a FIFO.
bool taken(const fs::path& p) {
  std::error_code ec;
  return fs::exists(fs::symlink_status(p, ec));
}

}  // namespace

fs::path next_output(const fs::path& base, int& next, bool overwrite) {
  fs::path out = candidate(base, next++);
  if (!overwrite)
    while (taken(out)) out = candidate(base, next++);
  return out;
}

void check_output(const fs::path& base, const OutputCheck& opts) {
  const std::string flag = opts.flag.empty() ? std::string() : opts.flag + " ";
  const std::string who = flag + base.string() + ": ";
  const std::string file = base.filename().string();
  if (file.empty() || file == "." || file == "..")
    throw Error(who + "is a folder name; give a file name" +
                (opts.extension ? std::string(" (e.g. ") + (base / "out").string() + opts.extension + ")"
                                : std::string()));
  if (opts.extension) {
    std::string ext = base.extension().string();
    for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (ext != opts.extension) {
      std::error_code ec;
      if (fs::is_directory(base, ec))
        throw Error(who + "is a folder; give a file name (e.g. " + (base / "out").string() + opts.extension +
                    ")");
      throw Error(who + opts.why_extension + "; use a " + opts.extension + " name");
    }
  }
  const fs::path dir = base.parent_path().empty() ? fs::path(".") : base.parent_path();
  std::error_code ec;
  const fs::file_status ds = fs::status(dir, ec);
  if (!fs::exists(ds)) throw Error(who + "no folder " + dir.string());
  if (!fs::is_directory(ds)) throw Error(who + dir.string() + " is not a folder");

  // The names that will be written: numbered ones as next_output will pick them (at most the first
  // thousand looked at one by one; past those, only the longest name matters).
  long name_max = pathconf(dir.c_str(), _PC_NAME_MAX);
  if (name_max <= 0) name_max = NAME_MAX;
  const int64_t count = opts.numbered ? std::max<int64_t>(opts.count, 1) : 1;
  int next = 0;
  int64_t last = 0;
  for (int64_t k = 0; k < std::min<int64_t>(count, 1000); ++k) {
    const fs::path name = opts.numbered ? next_output(base, next, opts.overwrite) : base;
    last = next - 1;
    const size_t len = name.filename().string().size();
    if (static_cast<long>(len) > name_max)
      throw Error(who + "the file name " + (name == base ? "is " : name.filename().string() + " is ") +
                  std::to_string(len) + " bytes long, more than the " + std::to_string(name_max) +
                  " this file system allows");
    const fs::file_status st = fs::symlink_status(name, ec);
    if (fs::exists(st) && (opts.overwrite || !opts.numbered)) {
      if (fs::is_directory(st))
        throw Error(who + (name == base ? std::string() : name.string() + " ") +
                    "is a folder (--overwrite replaces files, not folders)");
      if (!opts.overwrite) throw Error(who + "exists (pass --overwrite to replace it)");
    }
  }
  if (count > 1000) {
    const size_t len = candidate(base, last + (count - 1000)).filename().string().size();
    if (static_cast<long>(len) > name_max)
      throw Error(who + "the numbered file names reach " + std::to_string(len) + " bytes, more than the " +
                  std::to_string(name_max) + " this file system allows");
  }
  // Can the folder be written? (Permissions, a read-only file system, a name the file system refuses.)
  try {
    TempFile probe(base);
  } catch (const Error& e) {
    throw Error(flag + e.what());
  }
}

}  // namespace i2i::cli
