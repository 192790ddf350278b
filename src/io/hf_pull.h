// `i2i pull org/name`: downloads a Hugging Face repository (or one file of it) into the hub cache
// (io/hf_cache.h) exactly as huggingface_hub's snapshot_download / hf_hub_download lay it out
// (file_download.py): blobs/<etag> (written as blobs/<etag>.incomplete, resumed with Range, renamed into
// place once complete and verified), snapshots/<commit>/<file> (relative symlinks to the blobs) and
// refs/<revision> (the commit), so diffusers, transformers and ComfyUI find the files too, and
// `--model org/name` finds them here.
//
// The protocol is the hub's:
//   GET  <endpoint>/api/models/<org>/<name>/revision/<revision>?blobs=true   -> {"sha": commit, "siblings":
//        [{"rfilename", "size", "lfs": {"sha256", "size"}}]} (the file list; not needed for one FILE)
//   HEAD <endpoint>/<org>/<name>/resolve/<commit or revision>/<file>  (redirects not followed, except
//        relative ones) -> X-Repo-Commit, ETag or X-Linked-Etag (LFS: the SHA-256), Content-Length or
//        X-Linked-Size, Location
//   GET  the same URL, redirects followed (LFS files live on a CDN), Range: bytes=<n>- to resume.
// `Authorization: Bearer $HF_TOKEN` goes to the endpoint only (never to a redirect's other host).
// LFS files are verified against their SHA-256 (the API's lfs.sha256, which must agree with
// X-Linked-Etag); every file against its size. A file that fails is deleted, never placed. Sizes are
// bounded per kind of file (hf_max_file_bytes). Errors are one line: the URL and HTTP status (401/403: a
// gated or private repository, set HF_TOKEN), or the network failure (an unreachable endpoint says so).
//
// Two pulls into one cache: each file is downloaded under an exclusive flock on
// <cache>/.locks/models--org--name/<etag>.lock, the lock file huggingface_hub's filelock takes for the same
// blob, so i2i and Python tools never write one blob at once. A second pull waits (on_wait says who holds
// it: the pid an i2i pull writes into the lock file) and then finds the blob there, or gives up after
// lock_timeout_s. Before a file is downloaded, the free space of the blobs folder (statvfs) is checked
// against what is left of its expected size (listing or headers): too little is a one-line error naming
// the file, the bytes needed and the bytes free, before anything is written.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "io/hf_listing.h"

namespace i2i {

struct HfPullProgress {
  std::string file;  // the repository path being downloaded
  int index = 0;     // 1-based among `count` files to download
  int count = 0;
  int64_t received = 0;    // bytes of this file on disk (a resumed part included)
  int64_t total = -1;      // its size, -1 while unknown
  int64_t done_bytes = 0;  // bytes of the files finished before this one
  int64_t all_bytes = -1;  // bytes of all files to download (-1 unknown)
  bool finished = false;   // this file is complete and verified
};

struct HfPullOptions {
  std::string repo_id;            // "org/name"
  std::string revision = "main";  // branch, tag or commit
  // Files to fetch by repository path (`i2i pull org/name FILE`); empty: the repository's files, chosen by
  // include / exclude / variant (select_repo_files).
  std::vector<std::string> files;
  std::vector<std::string> include, exclude;  // fnmatch globs ('*' crosses '/'; "dir/" = "dir/*")
  std::string variant;                        // "fp16": X.fp16.safetensors instead of X.safetensors
  std::filesystem::path cache;                // "" = hf_hub_cache_dir()
  std::string endpoint;                       // "" = $HF_ENDPOINT, else https://huggingface.co
  std::string token;                          // "" = $HF_TOKEN (else $HUGGING_FACE_HUB_TOKEN)
  std::function<void(const HfPullProgress&)> progress;
  int max_attempts = 3;  // per file; a retry after a network failure resumes the partial blob
  long connect_timeout_s = 30;
  long stall_timeout_s = 60;  // abort a transfer below 1 byte/s for this long
  // Download the files again even when their blobs are in the cache (huggingface_hub's force_download).
  bool force_download = false;
  // Another process holds a file's lock: called once with a one-line message naming the file, the lock
  // file and its holder, then the pull waits for it. lock_timeout_s < 0 waits as long as it takes;
  // otherwise the pull fails after that many seconds (0: at once).
  std::function<void(const std::string&)> on_wait;
  double lock_timeout_s = -1;
  // The bytes free for a download into `folder`; empty: statvfs's f_bavail * f_frsize (tests replace it).
  std::function<int64_t(const std::filesystem::path& folder)> free_bytes;
};

struct HfPullResult {
  std::filesystem::path snapshot;  // <cache>/models--org--name/snapshots/<commit>
  std::string commit;
  std::vector<std::string> downloaded;  // repository paths fetched now
  std::vector<std::string> present;     // already in the snapshot, not fetched again
};

HfPullResult hf_pull(const HfPullOptions& options);

// The endpoint `options.endpoint` or the environment gives (no trailing '/').
std::string hf_endpoint(const std::string& given);

}  // namespace i2i
