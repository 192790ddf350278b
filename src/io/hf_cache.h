// The Hugging Face hub cache, as huggingface_hub lays it out (file_download.py, constants.py) and diffusers,
// transformers and ComfyUI read it: `<cache>/models--<org>--<name>/` holding `blobs/<etag>` (the files'
// bytes), `snapshots/<commit>/<path>` (relative symlinks into blobs/) and `refs/<revision>` (a text file
// holding the commit a branch or tag pointed at when last fetched). i2i reads it for `--model org/name`
// (models/model_names.h) and writes it for `i2i pull org/name` (io/hf_pull.h), so Python tools share it.
//
// The cache folder: $HF_HUB_CACHE, else $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else
// ~/.cache/huggingface/hub (huggingface_hub's constants.py order).
#pragma once

#include <filesystem>
#include <optional>
#include <string>

namespace i2i {

// A repository as a user names it: `org/name` or `org/name@revision` (a branch, tag or 40-hex commit).
struct HfRepoRef {
  std::string repo_id;            // "org/name"
  std::string revision = "main";  // never empty
};

// The hub cache folder (see above); empty when no environment variable gives one and HOME is unset.
std::filesystem::path hf_hub_cache_dir();

// Whether `repo_id` is a valid hub repository id "org/name" (huggingface_hub validate_repo_id, with the
// namespace required: letters, digits, '-', '_', '.'; at most 96 characters; no "--" or ".."; not starting
// or ending with '-' or '.').
bool is_hf_repo_id(const std::string& repo_id);
// Whether `revision` is usable as a refs/ file name: letters, digits, '-', '_', '.', '/' ("refs/pr/1"),
// at most 256 characters, no "..", no leading or trailing '/'.
bool is_hf_revision(const std::string& revision);
// `org/name[@revision]` parsed; nullopt when `text` is not of that form (e.g. a path "models/x.safetensors"
// parses as a repository id only if both parts are valid names: callers try existing paths first).
std::optional<HfRepoRef> parse_hf_repo_ref(const std::string& text);

// <cache>/models--org--name.
std::filesystem::path hf_repo_folder(const std::filesystem::path& cache, const std::string& repo_id);
// Whether `s` is a full commit hash (40 lowercase hex digits).
bool is_commit_hash(const std::string& s);

// The snapshot folder of `ref` in `cache`: snapshots/<revision> when the revision is a commit hash, else
// snapshots/<the commit in refs/<revision>>; nullopt when the repository, ref or snapshot is not there.
// Reads only the small refs file (at most 256 bytes are trusted; anything that is not a commit hash is
// treated as missing).
std::optional<std::filesystem::path> find_hf_snapshot(const std::filesystem::path& cache,
                                                      const HfRepoRef& ref);

}  // namespace i2i
