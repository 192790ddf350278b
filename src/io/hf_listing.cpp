#include "io/hf_listing.h"

#include <fnmatch.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "core/error.h"
#include "io/hf_cache.h"

namespace i2i {

namespace {

constexpr int64_t kGiB = int64_t{1} << 30;

std::string lower(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

std::string extension_of(const std::string& path) {
  const size_t slash = path.rfind('/');
  const std::string name = path.substr(slash == std::string::npos ? 0 : slash + 1);
  const size_t dot = name.rfind('.');
  return dot == std::string::npos ? "" : lower(name.substr(dot));
}

std::string folder_of(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? "" : path.substr(0, slash);
}

bool is_weights_ext(const std::string& ext) {
  static const std::set<std::string> w = {".safetensors", ".bin",  ".ckpt",    ".pt", ".pth",
                                          ".onnx",        ".gguf", ".msgpack", ".h5", ".onnx_data"};
  return w.count(ext) != 0;
}

bool is_sha256(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

std::string excerpt(const std::string& s) {
  std::string out;
  for (char c : s.substr(0, 80)) out += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? '?' : c;
  return out;
}

}  // namespace

HfRepoListing parse_hf_repo_listing(const std::string& text, const std::string& what) {
  const std::string bad = what + " is not a repository listing (";
  if (text.size() > kMaxHfListingBytes)
    throw Error(bad + "larger than " + std::to_string(kMaxHfListingBytes) + " bytes)");
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) throw Error(bad + "not a JSON object)");
  const auto sha = j.find("sha");
  if (sha == j.end() || !sha->is_string() || !is_commit_hash(sha->get<std::string>()))
    throw Error(bad + "no commit \"sha\")");
  const auto siblings = j.find("siblings");
  if (siblings == j.end() || !siblings->is_array()) throw Error(bad + "no \"siblings\" list)");
  if (siblings->size() > kMaxHfListingFiles)
    throw Error(bad + "more than " + std::to_string(kMaxHfListingFiles) + " files)");
  HfRepoListing out;
  out.commit = sha->get<std::string>();
  std::set<std::string> seen;
  for (const auto& s : *siblings) {
    if (!s.is_object()) throw Error(bad + "a file entry that is not an object)");
    const auto name = s.find("rfilename");
    if (name == s.end() || !name->is_string()) throw Error(bad + "a file without rfilename)");
    HfRepoFile f;
    f.path = name->get<std::string>();
    if (!is_safe_repo_path(f.path)) throw Error(bad + "unsafe file name '" + excerpt(f.path) + "')");
    if (!seen.insert(f.path).second) throw Error(bad + f.path + " listed twice)");
    const auto size_of = [&](const nlohmann::json& o) -> int64_t {
      const auto it = o.find("size");
      if (it == o.end()) return -1;
      if (!it->is_number_unsigned() || it->get<uint64_t>() > uint64_t{1} << 62)
        throw Error(bad + "a bad size for " + f.path + ")");
      return static_cast<int64_t>(it->get<uint64_t>());
    };
    f.size = size_of(s);
    if (const auto lfs = s.find("lfs"); lfs != s.end() && !lfs->is_null()) {
      if (!lfs->is_object()) throw Error(bad + "bad lfs metadata for " + f.path + ")");
      const auto h = lfs->find("sha256");
      if (h == lfs->end() || !h->is_string() || !is_sha256(lower(h->get<std::string>())))
        throw Error(bad + "a bad lfs.sha256 for " + f.path + ")");
      f.lfs_sha256 = lower(h->get<std::string>());
      if (const int64_t n = size_of(*lfs); n >= 0) f.size = n;
    }
    out.files.push_back(std::move(f));
  }
  return out;
}

bool is_safe_repo_path(const std::string& path) {
  if (path.empty() || path.size() > 1024 || path.front() == '/') return false;
  for (unsigned char c : path)
    if (c < 0x20 || c == 0x7f || c == '\\') return false;
  size_t start = 0;
  while (start <= path.size()) {
    const size_t end = std::min(path.find('/', start), path.size());
    const std::string part = path.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") return false;
    start = end + 1;
  }
  return true;
}

int64_t hf_max_file_bytes(const std::string& path) {
  const std::string ext = extension_of(path);
  if (is_weights_ext(ext)) return 64 * kGiB;
  static const std::set<std::string> text = {".json", ".txt", ".md",   ".yaml",          ".yml", ".model",
                                             ".py",   ".cfg", ".toml", ".gitattributes", ""};
  if (text.count(ext)) return int64_t{64} << 20;
  return 2 * kGiB;
}

std::vector<HfRepoFile> select_repo_files(const std::vector<HfRepoFile>& files,
                                          const std::vector<std::string>& include,
                                          const std::vector<std::string>& exclude,
                                          const std::string& variant) {
  const auto glob = [](std::string pattern, const std::string& path) {
    if (!pattern.empty() && pattern.back() == '/') pattern += "*";
    return fnmatch(pattern.c_str(), path.c_str(), 0) == 0;
  };
  const auto any = [&](const std::vector<std::string>& patterns, const std::string& path) {
    return std::any_of(patterns.begin(), patterns.end(), [&](const std::string& p) { return glob(p, path); });
  };
  std::set<std::string> all;
  for (const HfRepoFile& f : files) all.insert(f.path);
  const bool diffusers = all.count("model_index.json") != 0;
  std::set<std::string> safetensors_folders;
  for (const HfRepoFile& f : files)
    if (extension_of(f.path) == ".safetensors") safetensors_folders.insert(folder_of(f.path));
  // "dir/name.fp16.safetensors" -> {"dir/name.safetensors", "fp16"}; not a variant: {"", ""}.
  const auto split_variant = [](const std::string& path) -> std::pair<std::string, std::string> {
    const std::string ext = extension_of(path);
    if (ext != ".safetensors" && ext != ".bin") return {"", ""};
    const std::string stem = path.substr(0, path.size() - ext.size());
    const size_t dot = stem.rfind('.');
    if (dot == std::string::npos || stem.find('/', dot) != std::string::npos) return {"", ""};
    return {stem.substr(0, dot) + ext, stem.substr(dot + 1)};
  };
  std::vector<HfRepoFile> out;
  for (const HfRepoFile& f : files) {
    if (!include.empty()) {
      if (!any(include, f.path)) continue;
    } else {
      const std::string ext = extension_of(f.path);
      if (diffusers && folder_of(f.path).empty() && is_weights_ext(ext)) continue;
      if (ext != ".safetensors" && is_weights_ext(ext) && safetensors_folders.count(folder_of(f.path)))
        continue;
      const auto [base, v] = split_variant(f.path);
      if (!v.empty() && all.count(base) && v != variant) continue;  // a variant not asked for
      if (v.empty() && !variant.empty()) {
        // The plain file when the asked variant exists.
        const std::string ext2 = extension_of(f.path);
        const std::string with = f.path.substr(0, f.path.size() - ext2.size()) + "." + variant + ext2;
        if (all.count(with)) continue;
      }
    }
    if (any(exclude, f.path)) continue;
    out.push_back(f);
  }
  return out;
}

}  // namespace i2i
