// SHA-256 of files, the way AUTOMATIC1111 names model files in a picture's parameters text
// (modules/hashes.py: the SHA-256 of the whole file, shown as its first 10 hex digits; modules/sd_models.py
// model_hash: the old 8-digit hash of 64 KiB at offset 1 MiB, still what sd-webui-controlnet writes), and
// a cache so that a multi-GB checkpoint is read once, not on every run (A1111 keeps cache.json the same way).
//
// The cache file, $XDG_CACHE_HOME/i2i/hashes.json (else ~/.cache/i2i/hashes.json), holds one entry per file,
// keyed by its absolute path and valid while the file's size and modification time are those recorded:
//   {"i2i_hash_cache": 1, "files": {"/models/v1-5.safetensors":
//                                    {"size": 4265380512, "mtime_ns": 1700000000123456789, "sha256": "...",
//                                     "info": "checkpoint|SD 1.x"}}}
// ("info", optional: what `i2i list` learnt from the file's header, see set_info.)
// It is private data (it lists the user's paths): written with mode 0600, atomically (a temporary file
// renamed over it). A cache file that cannot be read, is not JSON, too large, or holds malformed entries is
// ignored (and rewritten on the next new hash); one that cannot be written leaves the hashes uncached.
// Neither is ever an error.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>

namespace i2i {

// The SHA-256 of a file's bytes as 64 lowercase hex digits, read once, sequentially, in large blocks.
// Throws i2i::Error naming the file when it cannot be read.
std::string sha256_file(const std::filesystem::path& file);
// The SHA-256 of the `count` bytes at `offset` (fewer where the file ends first; none past its end).
std::string sha256_file_range(const std::filesystem::path& file, uint64_t offset, uint64_t count);
// The SHA-256 of bytes in memory.
std::string sha256_hex(const std::string& bytes);

// A1111's old model hash (sd_models.model_hash): the first 8 hex digits of the SHA-256 of the 64 KiB at
// offset 1 MiB. sd-webui-controlnet names its models by it ("control_v11p_sd15_canny [d14c016b]"). Cheap:
// not cached.
std::string legacy_model_hash(const std::filesystem::path& file);

// $XDG_CACHE_HOME/i2i/hashes.json when XDG_CACHE_HOME is an absolute path, else $HOME/.cache/i2i/hashes.json;
// empty when neither is set (then nothing is cached on disk).
std::filesystem::path default_hash_cache_file();

// Whole-file SHA-256 hashes remembered in memory and in a cache file (see above). Thread-safe; a file is
// hashed outside the lock.
class HashCache {
 public:
  // `cache_file` empty: memory only.
  explicit HashCache(std::filesystem::path cache_file);
  // The process's cache, on default_hash_cache_file() as it was at first use.
  static HashCache& user();

  // sha256_file(file), or the remembered value when the file's size and modification time still match.
  // Throws i2i::Error only when `file` cannot be read (never for the cache file).
  std::string sha256(const std::filesystem::path& file);
  // The remembered hash when the file is unchanged since it was hashed, else "" (never reads the file's
  // bytes).
  std::string known_sha256(const std::filesystem::path& file);

  const std::filesystem::path& cache_file() const { return cache_file_; }

  // What a caller learnt from the file beside its hash (`i2i list`: its kind and family), valid as long as
  // the hash is: "" when none was recorded or the file changed. Never reads the file's bytes.
  std::string known_info(const std::filesystem::path& file);
  // Records `info` (at most kMaxInfoBytes) with the file's hash, hashing the file first when its hash is
  // not known. Throws i2i::Error when the file cannot be read or `info` is too long.
  void set_info(const std::filesystem::path& file, const std::string& info);
  static constexpr size_t kMaxInfoBytes = 256;

  struct Entry {
    uint64_t size = 0;
    int64_t mtime_ns = 0;
    std::string sha256;
    std::string info;  // set_info's (optional "info" in the cache file)
  };

 private:
  std::string lookup(const std::string& key, const Entry& now);
  void store(const std::string& key, const Entry& e);

  std::filesystem::path cache_file_;
  std::mutex mutex_;
  std::map<std::string, Entry> memory_;  // absolute path -> entry; also what the cache file held when read
  bool file_read_ = false;
};

}  // namespace i2i
