#include "models/model_lookup.h"

#include <algorithm>

#include "core/error.h"
#include "models/model_hash.h"

namespace i2i {
namespace fs = std::filesystem;

std::string ModelRef::describe() const {
  if (name.empty()) return "hash " + hash;
  return hash.empty() ? name : name + " (hash " + hash + ")";
}

namespace {

// The model-like entries of a folder, in name order: .safetensors files and folders holding weights.
std::vector<fs::path> model_entries(const fs::path& folder) {
  std::vector<fs::path> out;
  std::error_code ec;
  if (!fs::is_directory(folder, ec)) return out;
  for (fs::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec)) {
    const fs::path& p = it->path();
    std::error_code e2;
    if (fs::is_regular_file(p, e2) && p.extension() == ".safetensors") {
      out.push_back(p);
    } else if (fs::is_directory(p, e2)) {
      try {
        model_hash_file(p);
        out.push_back(p);
      } catch (const Error&) {  // not a model folder
      }
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

bool name_matches(const fs::path& entry, const std::string& name) {
  if (entry.filename().string() == name) return true;
  std::error_code ec;
  return entry.extension() == ".safetensors" && !fs::is_directory(entry, ec) && entry.stem().string() == name;
}

// Whether the entry's hash is the recorded one; a file that cannot be read does not match.
bool hash_matches(const fs::path& entry, const std::string& hash, std::string* actual = nullptr) {
  try {
    if (model_hash_matches(entry, hash)) return true;
    if (actual) *actual = hash.size() == 8 ? controlnet_short_hash(entry) : model_short_hash(entry);
  } catch (const Error&) {
  }
  return false;
}

}  // namespace

ModelSearch find_model(const ModelRef& ref, const std::vector<fs::path>& folders) {
  ModelSearch out;
  if (ref.empty()) return out;
  std::vector<std::vector<fs::path>> entries;
  std::vector<fs::path> seen;  // a folder named twice (the current folder is the model's) is searched once
  for (const fs::path& f : folders) {
    std::error_code ec;
    const fs::path canonical = fs::weakly_canonical(f, ec);
    if (std::find(seen.begin(), seen.end(), canonical) != seen.end()) continue;
    seen.push_back(canonical);
    entries.push_back(model_entries(f));
  }
  if (!ref.name.empty())
    for (const auto& list : entries)
      for (const fs::path& e : list) {
        if (!name_matches(e, ref.name)) continue;
        std::string actual;
        if (ref.hash.empty() || hash_matches(e, ref.hash, &actual)) {
          out.found = e;
          return out;
        }
        if (out.mismatch.empty())
          out.mismatch = e.string() + (actual.empty() ? " cannot be read" : " has hash " + actual);
      }
  if (ref.hash.empty()) return out;
  for (const auto& list : entries)
    for (const fs::path& e : list)
      if (hash_matches(e, ref.hash)) {
        out.found = e;
        out.mismatch.clear();
        return out;
      }
  return out;
}

}  // namespace i2i
