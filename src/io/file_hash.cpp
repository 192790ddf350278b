#include "io/file_hash.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <vector>

#include "core/error.h"
#include "core/user_cache.h"
#include "io/regular_file.h"

namespace i2i {
namespace fs = std::filesystem;

namespace {

constexpr size_t kBlock = size_t{8} << 20;                   // read size: large sequential reads
constexpr uint64_t kMaxCacheFileBytes = uint64_t{16} << 20;  // a larger cache file is not read
constexpr size_t kMaxCacheEntries = 4096;

class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new(), EVP_MD_CTX_free) {
    if (!ctx_ || EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr) != 1)
      throw Error("SHA-256: OpenSSL could not set up the digest");
  }
  void update(const void* data, size_t n) {
    if (n && EVP_DigestUpdate(ctx_.get(), data, n) != 1) throw Error("SHA-256: OpenSSL digest update failed");
  }
  std::string hex() {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_DigestFinal_ex(ctx_.get(), digest, &len) != 1) throw Error("SHA-256: OpenSSL digest failed");
    static const char* const digits = "0123456789abcdef";
    std::string out;
    for (unsigned int i = 0; i < len; ++i) {
      out += digits[digest[i] >> 4];
      out += digits[digest[i] & 15];
    }
    return out;
  }

 private:
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx_;
};

std::string hash_range(const fs::path& file, uint64_t offset, std::optional<uint64_t> count) {
  RegularFile f(file);
  const auto size = static_cast<uint64_t>(f.size());
  uint64_t left = offset >= size ? 0 : size - offset;
  if (count) left = std::min(left, *count);
#ifdef POSIX_FADV_SEQUENTIAL
  posix_fadvise(f.fd(), static_cast<off_t>(offset), static_cast<off_t>(left), POSIX_FADV_SEQUENTIAL);
#endif
  Sha256 sha;
  std::vector<unsigned char> buf(static_cast<size_t>(std::min<uint64_t>(left, kBlock)));
  uint64_t pos = offset;
  while (left > 0) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(left, buf.size()));
    const ssize_t got = ::pread(f.fd(), buf.data(), want, static_cast<off_t>(pos));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) throw Error(file.string() + ": read error while hashing: " + std::strerror(errno));
    if (got == 0) break;  // the file shrank while being read: what is there is hashed
    sha.update(buf.data(), static_cast<size_t>(got));
    pos += static_cast<uint64_t>(got);
    left -= static_cast<uint64_t>(got);
  }
  return sha.hex();
}

// The file's size and modification time now (nullopt: it cannot be stat'ed or is not a regular file).
std::optional<HashCache::Entry> stat_entry(const fs::path& file) {
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  HashCache::Entry e;
  e.size = static_cast<uint64_t>(st.st_size);
  e.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec;
  return e;
}

bool is_sha256_hex(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

// The entries of a cache file; whatever is missing, unreadable or malformed is left out.
std::map<std::string, HashCache::Entry> read_cache_file(const fs::path& path) {
  std::map<std::string, HashCache::Entry> out;
  std::string text;
  try {
    if (!path.empty()) text = read_regular_file(path, kMaxCacheFileBytes, "a hash cache");
  } catch (const Error&) {
    return out;
  }
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return out;
  const auto version = j.find("i2i_hash_cache");
  if (version == j.end() || *version != 1) return out;
  const auto files = j.find("files");
  if (files == j.end() || !files->is_object()) return out;
  for (const auto& [key, v] : files->items()) {
    if (out.size() >= kMaxCacheEntries) break;
    if (key.empty() || key[0] != '/' || key.find('\0') != std::string::npos || !v.is_object()) continue;
    const auto size_it = v.find("size"), mtime_it = v.find("mtime_ns"), sha_it = v.find("sha256");
    if (size_it == v.end() || mtime_it == v.end() || sha_it == v.end()) continue;
    if (!size_it->is_number_unsigned() || !mtime_it->is_number_integer() || !sha_it->is_string()) continue;
    HashCache::Entry e;
    e.size = size_it->get<uint64_t>();
    e.mtime_ns = mtime_it->get<int64_t>();
    e.sha256 = sha_it->get<std::string>();
    if (!is_sha256_hex(e.sha256)) continue;
    if (const auto info_it = v.find("info");
        info_it != v.end() && info_it->is_string() &&
        info_it->get_ref<const std::string&>().size() <= HashCache::kMaxInfoBytes)
      e.info = info_it->get<std::string>();
    out[key] = std::move(e);
  }
  return out;
}

// Writes `entries` to `path` through a temporary file in its folder renamed over it. Failures are ignored.
void write_cache_file(const fs::path& path, const std::map<std::string, HashCache::Entry>& entries) {
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  nlohmann::json files = nlohmann::json::object();
  for (const auto& [key, e] : entries) {
    files[key] = {{"size", e.size}, {"mtime_ns", e.mtime_ns}, {"sha256", e.sha256}};
    if (!e.info.empty()) files[key]["info"] = e.info;
  }
  const std::string text =
      nlohmann::json({{"i2i_hash_cache", 1}, {"files", files}})
          .dump(1, ' ', /*ensure_ascii=*/false, nlohmann::json::error_handler_t::replace) +
      "\n";
  std::string tmp = (path.parent_path() / (path.filename().string() + ".XXXXXX")).string();
  const int fd = mkstemp(tmp.data());  // mode 0600
  if (fd < 0) return;
  size_t done = 0;
  bool ok = true;
  while (ok && done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0;
    if (ok) done += static_cast<size_t>(n);
  }
  ok = ::close(fd) == 0 && ok;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) ::unlink(tmp.c_str());
}

}  // namespace

std::string sha256_file(const fs::path& file) {
  return hash_range(file, 0, std::nullopt);
}

std::string sha256_file_range(const fs::path& file, uint64_t offset, uint64_t count) {
  return hash_range(file, offset, count);
}

std::string sha256_hex(const std::string& bytes) {
  Sha256 sha;
  sha.update(bytes.data(), bytes.size());
  return sha.hex();
}

std::string legacy_model_hash(const fs::path& file) {
  return sha256_file_range(file, 0x100000, 0x10000).substr(0, 8);
}

fs::path default_hash_cache_file() {
  const fs::path dir = user_cache_dir();
  return dir.empty() ? fs::path() : dir / "hashes.json";
}

HashCache::HashCache(fs::path cache_file) : cache_file_(std::move(cache_file)) {}

HashCache& HashCache::user() {
  static HashCache cache(default_hash_cache_file());
  return cache;
}

std::string HashCache::lookup(const std::string& key, const Entry& now) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!file_read_) {
    file_read_ = true;
    for (auto& [k, e] : read_cache_file(cache_file_)) memory_.emplace(k, std::move(e));
  }
  const auto it = memory_.find(key);
  if (it != memory_.end() && it->second.size == now.size && it->second.mtime_ns == now.mtime_ns)
    return it->second.sha256;
  return "";
}

void HashCache::store(const std::string& key, const Entry& e) {
  std::lock_guard<std::mutex> lock(mutex_);
  memory_[key] = e;
  if (cache_file_.empty()) return;
  // Read again just before writing, so that entries other processes added meanwhile are kept.
  std::map<std::string, Entry> entries = read_cache_file(cache_file_);
  entries[key] = e;
  if (entries.size() > kMaxCacheEntries) {  // forget files that are gone, then whatever comes first
    std::error_code ec;
    std::erase_if(entries, [&](const auto& kv) { return kv.first != key && !fs::exists(kv.first, ec); });
    for (auto it = entries.begin(); entries.size() > kMaxCacheEntries;)
      it = it->first == key ? std::next(it) : entries.erase(it);
  }
  write_cache_file(cache_file_, entries);
}

std::string HashCache::known_info(const fs::path& file) {
  std::error_code ec;
  const fs::path abs = fs::absolute(file, ec).lexically_normal();
  const std::optional<Entry> now = stat_entry(abs);
  if (ec || !now || lookup(abs.string(), *now).empty()) return "";
  std::lock_guard<std::mutex> lock(mutex_);
  return memory_[abs.string()].info;
}

void HashCache::set_info(const fs::path& file, const std::string& info) {
  if (info.size() > kMaxInfoBytes)
    throw Error("hash cache: the information about " + file.string() + " is too long");
  sha256(file);
  std::error_code ec;
  const fs::path abs = fs::absolute(file, ec).lexically_normal();
  const std::optional<Entry> now = stat_entry(abs);
  if (ec || !now || lookup(abs.string(), *now).empty()) return;  // changed while it was hashed
  Entry e;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    e = memory_[abs.string()];
  }
  if (e.info == info) return;
  e.info = info;
  store(abs.string(), e);
}

std::string HashCache::known_sha256(const fs::path& file) {
  std::error_code ec;
  const fs::path abs = fs::absolute(file, ec).lexically_normal();
  const std::optional<Entry> now = stat_entry(abs);
  if (ec || !now) return "";
  return lookup(abs.string(), *now);
}

std::string HashCache::sha256(const fs::path& file) {
  std::error_code ec;
  const fs::path abs = fs::absolute(file, ec).lexically_normal();
  if (ec) throw Error(file.string() + ": cannot resolve the path to hash: " + ec.message());
  const std::optional<Entry> before = stat_entry(abs);
  if (!before) throw Error(file.string() + ": cannot hash: not a readable regular file");
  if (std::string known = lookup(abs.string(), *before); !known.empty()) return known;
  Entry e = *before;
  e.sha256 = sha256_file(abs);
  // Recorded only when the file did not change while it was read.
  const std::optional<Entry> after = stat_entry(abs);
  if (after && after->size == e.size && after->mtime_ns == e.mtime_ns) store(abs.string(), e);
  return e.sha256;
}

}  // namespace i2i
