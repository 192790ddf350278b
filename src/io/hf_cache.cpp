#include "io/hf_cache.h"

#include <cstdlib>
#include <fstream>

namespace i2i {
namespace fs = std::filesystem;

namespace {

fs::path absolute_env(const char* name) {
  const char* v = std::getenv(name);
  if (v && *v && fs::path(v).is_absolute()) return fs::path(v);
  return {};
}

bool name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
         c == '.';
}

bool valid_part(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!name_char(c)) return false;
  return s.front() != '-' && s.front() != '.' && s.back() != '-' && s.back() != '.';
}

}  // namespace

fs::path hf_hub_cache_dir() {
  if (fs::path p = absolute_env("HF_HUB_CACHE"); !p.empty()) return p;
  if (fs::path p = absolute_env("HF_HOME"); !p.empty()) return p / "hub";
  if (fs::path p = absolute_env("XDG_CACHE_HOME"); !p.empty()) return p / "huggingface" / "hub";
  if (fs::path p = absolute_env("HOME"); !p.empty()) return p / ".cache" / "huggingface" / "hub";
  return {};
}

bool is_hf_repo_id(const std::string& repo_id) {
  if (repo_id.size() > 96 || repo_id.find("--") != std::string::npos ||
      repo_id.find("..") != std::string::npos)
    return false;
  const size_t slash = repo_id.find('/');
  if (slash == std::string::npos || repo_id.find('/', slash + 1) != std::string::npos) return false;
  return valid_part(repo_id.substr(0, slash)) && valid_part(repo_id.substr(slash + 1));
}

bool is_hf_revision(const std::string& revision) {
  if (revision.empty() || revision.size() > 256 || revision.find("..") != std::string::npos) return false;
  if (revision.front() == '/' || revision.back() == '/' || revision.find("//") != std::string::npos)
    return false;
  for (char c : revision)
    if (!name_char(c) && c != '/') return false;
  return true;
}

std::optional<HfRepoRef> parse_hf_repo_ref(const std::string& text) {
  HfRepoRef ref;
  const size_t at = text.find('@');
  ref.repo_id = text.substr(0, at);
  if (at != std::string::npos) ref.revision = text.substr(at + 1);
  if (!is_hf_repo_id(ref.repo_id) || !is_hf_revision(ref.revision)) return std::nullopt;
  return ref;
}

fs::path hf_repo_folder(const fs::path& cache, const std::string& repo_id) {
  std::string name = "models--" + repo_id;
  const size_t slash = name.find('/');
  if (slash != std::string::npos) name.replace(slash, 1, "--");
  return cache / name;
}

bool is_commit_hash(const std::string& s) {
  if (s.size() != 40) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

std::optional<fs::path> find_hf_snapshot(const fs::path& cache, const HfRepoRef& ref) {
  if (cache.empty() || !is_hf_repo_id(ref.repo_id) || !is_hf_revision(ref.revision)) return std::nullopt;
  const fs::path repo = hf_repo_folder(cache, ref.repo_id);
  std::string commit = ref.revision;
  std::error_code ec;
  if (!is_commit_hash(commit)) {
    std::ifstream in(repo / "refs" / ref.revision, std::ios::binary);
    if (!in) return std::nullopt;
    char buf[257] = {0};
    in.read(buf, 256);
    commit.assign(buf, static_cast<size_t>(in.gcount()));
    while (!commit.empty() && (commit.back() == '\n' || commit.back() == '\r' || commit.back() == ' '))
      commit.pop_back();
    if (!is_commit_hash(commit)) return std::nullopt;
  }
  const fs::path snapshot = repo / "snapshots" / commit;
  if (!fs::is_directory(snapshot, ec)) return std::nullopt;
  return snapshot;
}

}  // namespace i2i
