// `i2i pull tokenizer`: the CLIP tokenizer (vocab.json, merges.txt of openai/clip-vit-large-patch14) that
// single-file checkpoints need. A case of the hub pull (io/hf_pull.h: progress, resume, size bounds, the
// per-file lock and disk check, SHA-256 / size verification, atomic placement, HF_ENDPOINT, HF_TOKEN): the
// two files go into the Hugging Face cache (where transformers finds them too), are checked structurally,
// and are then copied into the i2i tokenizer folder (default_tokenizer_cache_dir(), text/tokenizer.h),
// each through a temporary file renamed into place.
#pragma once

#include <filesystem>
#include <functional>
#include <string>

#include "io/hf_pull.h"

namespace i2i {

// The Hugging Face repository the tokenizer comes from (its root holds vocab.json and merges.txt).
inline constexpr const char* kTokenizerRepo = "openai/clip-vit-large-patch14";

struct PullTokenizerOptions {
  // Destination folder; empty: default_tokenizer_cache_dir() ($XDG_CACHE_HOME/i2i/tokenizer/clip).
  std::filesystem::path dest;
  // The hub cache the files are pulled into; empty: hf_hub_cache_dir().
  std::filesystem::path cache;
  // Scheme and host; empty: $HF_ENDPOINT, else $I2I_HF_ENDPOINT (the variable this command read before it
  // used the hub pull), else https://huggingface.co.
  std::string endpoint;
  std::string token;  // "" = $HF_TOKEN
  std::function<void(const HfPullProgress&)> progress;
  std::function<void(const std::string&)> on_wait;  // another pull holds a file's lock (HfPullOptions)
  int max_attempts = 3;
  // Download even when dest already holds a valid tokenizer (and fetch the blobs again).
  bool force = false;
  long connect_timeout_s = 30;
  long stall_timeout_s = 60;
};

struct PullResult {
  std::filesystem::path dir;  // the folder holding vocab.json and merges.txt
  bool downloaded = false;    // false when a valid tokenizer was already there (and force was not set)
};

// Pulls vocab.json and merges.txt (hf_pull), checks them (vocab: 49408 entries with <|startoftext|> =
// 49406 and <|endoftext|> = 49407; merges: "#version" header and 48894 merges), and places them in
// options.dest. Throws i2i::Error with one line: the pull's errors (URL and HTTP status, network failure,
// checksum, size, lock, disk space), or the failed check (the pulled blobs and their links are then
// deleted, and dest is left as it was).
PullResult pull_tokenizer(const PullTokenizerOptions& options = {});

}  // namespace i2i
