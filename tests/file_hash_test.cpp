// SHA-256 of files (io/file_hash.h): the hashes `sha256sum` prints, A1111's old 64 KiB hash, and the hash
// cache - hits, entries gone stale by size or modification time, and cache files that are corrupt,
// hostile or cannot be written (ignored, rewritten, never an error).
#include "io/file_hash.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"
#include "support/fixtures.h"

namespace i2i {
namespace {
namespace fs = std::filesystem;

std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// The first word `command` prints (the digest of sha256sum).
std::string first_word_of(const std::string& command) {
  FILE* f = popen(command.c_str(), "r");
  if (!f) return "";
  char buf[256] = {};
  const size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  pclose(f);
  std::string out(buf, n);
  return out.substr(0, out.find_first_of(" \n"));
}

std::string sha256sum(const fs::path& file) {
  return first_word_of("sha256sum " + shell_quote(file.string()));
}

void write_file(const fs::path& p, const std::string& bytes) {
  std::ofstream(p, std::ios::binary) << bytes;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Deterministic bytes that are not a repeating block.
std::string pseudo_random_bytes(size_t n) {
  std::string s(n, '\0');
  uint32_t x = 12345;
  for (char& c : s) {
    x = x * 1664525u + 1013904223u;
    c = static_cast<char>(x >> 24);
  }
  return s;
}

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

// A file larger than one read block (8 MiB) and not a multiple of it, and an empty one.
TEST(Sha256, FileMatchesSha256sum) {
  const fs::path dir = test::temp_dir("sha256_file");
  write_file(dir / "big.bin", pseudo_random_bytes((size_t{9} << 20) + 12345));
  write_file(dir / "empty.bin", "");
  for (const char* name : {"big.bin", "empty.bin"}) {
    const std::string want = sha256sum(dir / name);
    ASSERT_EQ(want.size(), 64u) << "sha256sum did not run";
    EXPECT_EQ(sha256_file(dir / name), want) << name;
  }
  // A fixture model too (as `Model hash` reads it: the first 10 digits).
  const fs::path model = test::models_dir() / "tiny-sd15.safetensors";
  EXPECT_EQ(sha256_file(model), sha256sum(model));
  EXPECT_THROW(sha256_file(dir / "missing.bin"), Error);
  EXPECT_THROW(sha256_file(dir), Error);
}

// A1111's old model_hash: sha256 of file[0x100000 : 0x110000], 8 digits; of nothing for a small file.
TEST(Sha256, LegacyModelHash) {
  const fs::path dir = test::temp_dir("sha256_legacy");
  const std::string bytes = pseudo_random_bytes((size_t{1} << 20) + 100000);
  write_file(dir / "model.bin", bytes);
  EXPECT_EQ(legacy_model_hash(dir / "model.bin"), sha256_hex(bytes.substr(0x100000, 0x10000)).substr(0, 8));
  const std::string cmd =
      "tail -c +1048577 " + shell_quote((dir / "model.bin").string()) + " | head -c 65536 | sha256sum";
  EXPECT_EQ(legacy_model_hash(dir / "model.bin"), first_word_of(cmd).substr(0, 8));
  write_file(dir / "short.bin", bytes.substr(0, 0x100000 + 10));  // 10 bytes past the offset
  EXPECT_EQ(legacy_model_hash(dir / "short.bin"), sha256_hex(bytes.substr(0x100000, 10)).substr(0, 8));
  write_file(dir / "small.bin", "tiny");
  EXPECT_EQ(legacy_model_hash(dir / "small.bin"), "e3b0c442");
}

TEST(HashCache, DefaultFileFollowsXdg) {
  const char* old_xdg = std::getenv("XDG_CACHE_HOME");
  const std::string saved = old_xdg ? old_xdg : "";
  setenv("XDG_CACHE_HOME", "/some/cache", 1);
  EXPECT_EQ(default_hash_cache_file(), fs::path("/some/cache/i2i/hashes.json"));
  setenv("XDG_CACHE_HOME", "relative", 1);
  const char* home = std::getenv("HOME");
  if (home && *home) {
    EXPECT_EQ(default_hash_cache_file(), fs::path(home) / ".cache/i2i/hashes.json");
  }
  if (old_xdg)
    setenv("XDG_CACHE_HOME", saved.c_str(), 1);
  else
    unsetenv("XDG_CACHE_HOME");
}

// Sets the recorded sha256 of every entry of a cache file to `fake` (a value no file has).
void fake_cache_entries(const fs::path& cache, const std::string& fake) {
  nlohmann::json j = nlohmann::json::parse(read_file(cache));
  for (auto& [key, e] : j["files"].items()) e["sha256"] = fake;
  write_file(cache, j.dump());
}

const std::string kFake(64, 'f');

TEST(HashCache, HitWhenSizeAndTimeMatch) {
  const fs::path dir = test::temp_dir("hash_cache_hit");
  const fs::path file = dir / "model.safetensors", cache = dir / "cache" / "hashes.json";
  write_file(file, "weights v1");
  const std::string real = sha256_hex("weights v1");
  EXPECT_EQ(HashCache(cache).sha256(file), real);
  ASSERT_TRUE(fs::exists(cache));
  EXPECT_EQ(fs::status(cache).permissions() & fs::perms::all, fs::perms::owner_read | fs::perms::owner_write);
  const nlohmann::json j = nlohmann::json::parse(read_file(cache));
  EXPECT_EQ(j["files"][fs::absolute(file).string()]["sha256"], real);
  EXPECT_EQ(j["files"][fs::absolute(file).string()]["size"], 10);
  // A new cache on the same file (as the next run) answers from the file: the fake value proves the
  // model was not read again.
  fake_cache_entries(cache, kFake);
  EXPECT_EQ(HashCache(cache).sha256(file), kFake);
  EXPECT_EQ(HashCache(cache).known_sha256(file), kFake);
  // The same path written differently is the same entry.
  EXPECT_EQ(HashCache(cache).sha256(dir / "." / "model.safetensors"), kFake);
  // Only the remembered value, never the file's bytes: "" for an unknown file.
  write_file(dir / "other.bin", "x");
  EXPECT_EQ(HashCache(cache).known_sha256(dir / "other.bin"), "");
}

TEST(HashCache, StaleBySizeOrModificationTime) {
  const fs::path dir = test::temp_dir("hash_cache_stale");
  const fs::path file = dir / "model.safetensors", cache = dir / "hashes.json";
  write_file(file, "weights v1");
  HashCache(cache).sha256(file);
  fake_cache_entries(cache, kFake);
  // Another size: hashed again (and the new value recorded).
  write_file(file, "weights v2 (longer)");
  EXPECT_EQ(HashCache(cache).sha256(file), sha256_hex("weights v2 (longer)"));
  EXPECT_EQ(HashCache(cache).sha256(file), sha256_hex("weights v2 (longer)"));  // (from the cache)
  // The same size, another modification time.
  fake_cache_entries(cache, kFake);
  const auto t = fs::last_write_time(file);
  write_file(file, "weights v3 (longer)");
  fs::last_write_time(file, t + std::chrono::seconds(5));
  EXPECT_EQ(HashCache(cache).sha256(file), sha256_hex("weights v3 (longer)"));
  // The in-memory entries of one cache go stale the same way.
  HashCache memory_only({});
  EXPECT_EQ(memory_only.sha256(file), sha256_hex("weights v3 (longer)"));
  write_file(file, "weights v4");
  EXPECT_EQ(memory_only.sha256(file), sha256_hex("weights v4"));
}

TEST(HashCache, CorruptOrHostileCacheFilesAreIgnoredAndRewritten) {
  const fs::path dir = test::temp_dir("hash_cache_corrupt");
  const fs::path file = dir / "model.safetensors", cache = dir / "hashes.json";
  write_file(file, "weights");
  const std::string real = sha256_hex("weights");
  const std::string key = fs::absolute(file).string();
  const std::vector<std::string> bad = {
      "",
      "not json at all {{{",
      std::string(1000, '['),
      "[1, 2, 3]",
      "{\"i2i_hash_cache\": 2, \"files\": {}}",
      "{\"i2i_hash_cache\": 1, \"files\": []}",
      // Entries of the wrong shape: a wrong-typed size, a hash that is not 64 hex digits, a relative key.
      "{\"i2i_hash_cache\": 1, \"files\": {\"" + key +
          "\": {\"size\": \"7\", \"mtime_ns\": 0, \"sha256\": \"" + kFake + "\"}}}",
      "{\"i2i_hash_cache\": 1, \"files\": {\"" + key + "\": {\"size\": 7, \"mtime_ns\": 0, \"sha256\": \"" +
          std::string(64, 'z') + "\"}}}",
      "{\"i2i_hash_cache\": 1, \"files\": {\"model.safetensors\": 5}}",
  };
  for (const std::string& text : bad) {
    write_file(cache, text);
    EXPECT_EQ(HashCache(cache).sha256(file), real) << text.substr(0, 80);
    // Rewritten as a valid cache holding the entry.
    const nlohmann::json j = nlohmann::json::parse(read_file(cache), nullptr, false);
    ASSERT_TRUE(j.is_object()) << text.substr(0, 80);
    EXPECT_EQ(j["files"][key]["sha256"], real) << text.substr(0, 80);
  }
  // A cache entry claiming this file's size and time with another valid hash is believed (that is what a
  // cache is), but only for exactly that size and time.
  struct stat st {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  const long long mtime = static_cast<long long>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec;
  write_file(cache, "{\"i2i_hash_cache\": 1, \"files\": {\"" + key + "\": {\"size\": 7, \"mtime_ns\": " +
                        std::to_string(mtime + 1) + ", \"sha256\": \"" + kFake + "\"}}}");
  EXPECT_EQ(HashCache(cache).sha256(file), real);
}

TEST(HashCache, UnwritableCacheIsNotAnError) {
  const fs::path dir = test::temp_dir("hash_cache_unwritable");
  const fs::path file = dir / "model.safetensors";
  write_file(file, "weights");
  write_file(dir / "a_file", "x");
  // The cache's folder is a regular file: nothing can be written there.
  HashCache cache(dir / "a_file" / "hashes.json");
  EXPECT_EQ(cache.sha256(file), sha256_hex("weights"));
  EXPECT_EQ(cache.sha256(file), sha256_hex("weights"));  // remembered in memory
  // The cache path is a folder.
  fs::create_directories(dir / "cache_is_a_dir");
  EXPECT_EQ(HashCache(dir / "cache_is_a_dir").sha256(file), sha256_hex("weights"));
  // A file that cannot be read is the error, naming it.
  try {
    cache.sha256(dir / "missing.safetensors");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("missing.safetensors"), std::string::npos) << e.what();
  }
}

// Entries other processes wrote meanwhile are kept when a new one is added.
TEST(HashCache, KeepsOtherEntries) {
  const fs::path dir = test::temp_dir("hash_cache_merge");
  const fs::path cache = dir / "hashes.json";
  write_file(dir / "a", "a");
  write_file(dir / "b", "b");
  HashCache first(cache), second(cache);
  EXPECT_EQ(second.known_sha256(dir / "b"), "");  // `second` reads the cache file now, while it is empty
  first.sha256(dir / "a");
  second.sha256(dir / "b");  // writes: what `first` added meanwhile stays
  const nlohmann::json j = nlohmann::json::parse(read_file(cache));
  EXPECT_EQ(j["files"].size(), 2u);
  EXPECT_EQ(j["files"][fs::absolute(dir / "a").string()]["sha256"], sha256_hex("a"));
  EXPECT_EQ(j["files"][fs::absolute(dir / "b").string()]["sha256"], sha256_hex("b"));
}

}  // namespace
}  // namespace i2i
