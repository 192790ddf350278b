// A Hugging Face repository's file listing as the hub's API gives it (GET /api/models/<org>/<name>/revision/
// <revision>?blobs=true: {"sha": commit, "siblings": [{"rfilename", "size", "lfs": {"sha256", "size"}}]}),
// read as untrusted input, and the choice of files `i2i pull` makes from it (io/hf_pull.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace i2i {

// One file of a repository listing (the API's siblings).
struct HfRepoFile {
  std::string path;
  int64_t size = -1;
  std::string lfs_sha256;  // "" for files not in LFS
};

// The files of `files` a pull fetches: with `include` globs, those matching one; without, a diffusers
// repository's (model_index.json at the root) root-level weights are left out (single-file checkpoints
// beside the components), and in every folder .bin / .ckpt / .pt / .pth / .msgpack / .h5 / .onnx files
// are left out when the folder has .safetensors; of X.safetensors and X.<variant>.safetensors the
// requested one is kept (no variant: the plain one). `exclude` globs then remove files.
std::vector<HfRepoFile> select_repo_files(const std::vector<HfRepoFile>& files,
                                          const std::vector<std::string>& include,
                                          const std::vector<std::string>& exclude,
                                          const std::string& variant);

// Whether a repository path is safe to place under a snapshot folder: relative, '/'-separated, no empty,
// "." or ".." component, no backslash or control character, at most 1024 bytes.
bool is_safe_repo_path(const std::string& path);

// The largest file accepted for a repository path, by kind: weights (.safetensors, .bin, .ckpt, .pt, .pth,
// .onnx, .gguf, .msgpack, .h5) 64 GiB; text and configs (.json, .txt, .md, .yaml, .model, ...) 64 MiB;
// anything else 2 GiB.
int64_t hf_max_file_bytes(const std::string& path);

struct HfRepoListing {
  std::string commit;  // 40 lowercase hex digits
  std::vector<HfRepoFile> files;
};

// Parses a listing (at most kMaxHfListingBytes). Throws i2i::Error naming `what` (the URL) for anything
// else: not a JSON object, no 40-hex "sha", no "siblings" array, a file without a string rfilename, an
// unsafe path (is_safe_repo_path), a path listed twice, a negative or non-integer size, an lfs.sha256 that
// is not 64 hex digits, more than kMaxHfListingFiles files.
HfRepoListing parse_hf_repo_listing(const std::string& text, const std::string& what);
constexpr size_t kMaxHfListingBytes = size_t{16} << 20;
constexpr size_t kMaxHfListingFiles = 100000;

}  // namespace i2i
