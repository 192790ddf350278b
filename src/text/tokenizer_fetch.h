// Downloads the CLIP tokenizer (vocab.json, merges.txt of openai/clip-vit-large-patch14) into the user cache
// (`i2i pull tokenizer`): resumable (<file>.part + HTTP Range), validated before it is renamed into place.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

namespace i2i {

// The Hugging Face repository and folder the tokenizer comes from.
inline constexpr const char* kTokenizerRepo = "openai/clip-vit-large-patch14";
inline constexpr const char* kDefaultHfEndpoint = "https://huggingface.co";

struct PullProgress {
  std::string file;          // "vocab.json" or "merges.txt"
  std::string url;           // where it comes from
  int64_t received = 0;      // bytes of this file on disk so far (a resumed part included)
  int64_t total = -1;        // its full size, -1 while unknown
  int64_t resumed_from = 0;  // bytes kept from an earlier, interrupted download (0: from the start)
  bool finished = false;     // this file has been downloaded completely (not yet validated)
};

struct PullTokenizerOptions {
  // Destination folder; empty: default_tokenizer_cache_dir() ($XDG_CACHE_HOME/i2i/tokenizer/clip).
  std::filesystem::path dest;
  // Scheme and host (e.g. "https://huggingface.co"); empty: $I2I_HF_ENDPOINT, else kDefaultHfEndpoint.
  std::string endpoint;
  // Called as bytes arrive (from the transfer thread; no other calls run concurrently).
  std::function<void(const PullProgress&)> progress;
  // Tries per file; each retry after a network failure resumes from the partial file.
  int max_attempts = 3;
  // Download even when dest already holds a valid tokenizer.
  bool force = false;
  long connect_timeout_s = 30;
  // Abort a transfer that stays below 1 byte/s for this long.
  long stall_timeout_s = 60;
};

struct PullResult {
  std::filesystem::path dir;  // the folder holding vocab.json and merges.txt
  bool downloaded = false;    // false when a valid tokenizer was already there (and force was not set)
};

// <endpoint>/openai/clip-vit-large-patch14/resolve/main/<file>
std::string tokenizer_file_url(const std::string& endpoint, const std::string& file);

// Downloads vocab.json and merges.txt into options.dest (created if needed) as <file>.part, checks them
// structurally (vocab: 49408 entries with <|startoftext|> = 49406, <|endoftext|> = 49407; merges: "#version"
// header and 48894 merges), then renames them into place. An interrupted transfer keeps its .part file and
// the next attempt (or the next call) continues it with a Range request (a server answering 200 instead of
// 206 restarts it). Throws i2i::Error with one line naming the URL and the HTTP status or network failure;
// files that fail the checks are deleted, so the folder never holds a broken vocab.json / merges.txt.
PullResult pull_tokenizer(const PullTokenizerOptions& options = {});

}  // namespace i2i
