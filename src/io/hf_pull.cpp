#include "io/hf_pull.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "core/error.h"
#include "io/file_hash.h"
#include "io/hf_cache.h"

namespace i2i {
namespace fs = std::filesystem;

namespace {

constexpr const char* kDefaultEndpoint = "https://huggingface.co";

std::string lower(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

std::string one_line(std::string s) {
  for (char& c : s)
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

bool starts_with_ci(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() &&
         lower(std::string(s.substr(0, prefix.size()))) == lower(std::string(prefix));
}

std::optional<int64_t> parse_int(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  if (s.empty() || s.front() < '0' || s.front() > '9') return std::nullopt;
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') break;
    if (v > (INT64_MAX - 9) / 10) return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

void global_init() {
  static std::once_flag once;
  static CURLcode code = CURLE_OK;
  std::call_once(once, [] { code = curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (code != CURLE_OK) throw Error(std::string("cannot initialise libcurl: ") + curl_easy_strerror(code));
}

// huggingface_hub's _normalize_etag: without a weak "W/" prefix and quotes.
std::string normalize_etag(std::string e) {
  if (e.rfind("W/", 0) == 0) e = e.substr(2);
  e.erase(std::remove(e.begin(), e.end(), '"'), e.end());
  return e;
}

bool safe_etag(const std::string& e) {
  if (e.empty() || e.size() > 128) return false;
  for (char c : e)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' || c == '_'))
      return false;
  return true;
}

bool is_sha256(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

// Percent-encodes a repository path or revision for a URL ('/' kept in paths).
std::string url_escape(const std::string& s, bool keep_slash) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
        c == '.' || c == '~' || (keep_slash && c == '/')) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

// One HTTP exchange with libcurl.
struct Http {
  // Request.
  std::string url;
  bool head = false;
  bool follow = false;        // follow redirects (absolute and relative)
  std::string token;          // sent as Authorization: Bearer (curl drops it on a redirect to another host)
  int64_t offset = 0;         // Range: bytes=<offset>- when > 0
  std::FILE* sink = nullptr;  // body of a 200/206 goes here (else into `body`, at most body_limit bytes)
  size_t body_limit = 4096;
  int64_t max_bytes = INT64_MAX;          // offset + bytes received may not pass this
  std::function<void(int64_t)> on_bytes;  // bytes of the file so far (offset included)
  long connect_timeout_s = 30, stall_timeout_s = 60;

  // Response (of the last hop).
  long status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  int64_t written = 0;
  std::optional<int64_t> range_start;
  bool too_big = false, write_failed = false, range_mismatch = false, body_too_big = false;
  CURLcode code = CURLE_OK;
  std::string curl_error;

  bool ok_status() const { return status == 200 || status == 206; }

  static size_t on_header(char* data, size_t size, size_t count, void* p) {
    auto* h = static_cast<Http*>(p);
    std::string_view line(data, size * count);
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
    if (starts_with_ci(line, "HTTP/")) {
      const size_t sp = line.find(' ');
      h->status = sp == std::string_view::npos ? 0 : parse_int(line.substr(sp + 1)).value_or(0);
      h->headers.clear();
      h->range_start.reset();
    } else if (const size_t colon = line.find(':'); colon != std::string_view::npos) {
      std::string value(line.substr(colon + 1));
      while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.erase(0, 1);
      const std::string name = lower(std::string(line.substr(0, colon)));
      if (name == "content-range") {
        const size_t b = value.find("bytes");
        if (b != std::string::npos) h->range_start = parse_int(std::string_view(value).substr(b + 5));
      }
      h->headers[name] = value;
    }
    return size * count;
  }

  static size_t on_body(char* data, size_t size, size_t count, void* p) {
    auto* h = static_cast<Http*>(p);
    const size_t n = size * count;
    if (!h->sink || !h->ok_status()) {
      if (h->body.size() + n > h->body_limit) {
        if (h->ok_status()) {
          h->body_too_big = true;
          return 0;
        }
        h->body.append(data, h->body_limit - std::min(h->body_limit, h->body.size()));
        return n;
      }
      h->body.append(data, n);
      return n;
    }
    if (h->written == 0) {
      // The first body byte of a 200 / 206: a 206 must continue where the part ends, a 200 restarts it.
      if (h->status == 206 && h->range_start.value_or(-1) != h->offset) {
        h->range_mismatch = true;
        return 0;
      }
      if (h->status == 200 && h->offset > 0) {
        h->offset = 0;
        if (std::fflush(h->sink) != 0 || ::ftruncate(fileno(h->sink), 0) != 0 ||
            std::fseek(h->sink, 0, SEEK_SET) != 0) {
          h->write_failed = true;
          return 0;
        }
      }
    }
    if (h->offset + h->written + static_cast<int64_t>(n) > h->max_bytes) {
      h->too_big = true;
      return 0;
    }
    if (std::fwrite(data, 1, n, h->sink) != n) {
      h->write_failed = true;
      return 0;
    }
    h->written += static_cast<int64_t>(n);
    if (h->on_bytes) h->on_bytes(h->offset + h->written);
    return n;
  }

  void perform() {
    global_init();
    CURL* curl = curl_easy_init();
    if (!curl) throw Error("cannot create a libcurl handle");
    char errbuf[CURL_ERROR_SIZE] = {0};
    struct curl_slist* list = nullptr;
    const std::string auth = "Authorization: Bearer " + token;
    if (!token.empty()) list = curl_slist_append(list, auth.c_str());
    list = curl_slist_append(list, "Accept-Encoding: identity");
    const std::string range = std::to_string(offset) + "-";
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, follow ? 1L : 0L);
    curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "i2i/0.1 (hf pull)");
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, connect_timeout_s);
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, stall_timeout_s);
    if (head) curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
    if (offset > 0) curl_easy_setopt(curl, CURLOPT_RANGE, range.c_str());
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, &Http::on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, this);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &Http::on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, this);
    code = curl_easy_perform(curl);
    curl_error = errbuf[0] ? one_line(errbuf) : curl_easy_strerror(code);
    curl_slist_free_all(list);
    curl_easy_cleanup(curl);
  }

  std::string header(const std::string& name) const {
    const auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

bool unreachable(CURLcode c) {
  return c == CURLE_COULDNT_RESOLVE_HOST || c == CURLE_COULDNT_CONNECT || c == CURLE_COULDNT_RESOLVE_PROXY ||
         c == CURLE_OPERATION_TIMEDOUT;
}

// The message for a failed exchange (network failure or HTTP error status), for `what`.
std::string failure(const Http& h, const std::string& endpoint) {
  if (h.code != CURLE_OK) {
    if (unreachable(h.code))
      return h.url + ": cannot reach " + endpoint + " (" + h.curl_error +
             "; no network? HF_ENDPOINT selects another server)";
    return h.url + ": " + h.curl_error;
  }
  std::string msg = h.url + ": HTTP " + std::to_string(h.status);
  if (h.status == 401 || h.status == 403)
    msg +=
        " (a gated or private repository: accept its terms on the hub and set HF_TOKEN to a token with "
        "access)";
  else if (h.status == 404)
    msg += " (not found: check the repository, revision and file names)";
  const std::string body = one_line(h.body).substr(0, 160);
  if (!body.empty()) msg += ": " + body;
  return msg;
}

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : fallback;
}

struct FileMeta {
  std::string commit;
  std::string etag;
  int64_t size = -1;
  std::string sha256;  // expected, "" when not an LFS file
  std::string url;     // where to GET it (the resolve URL; redirects are followed then)
};

// HEAD of a resolve URL, following only relative redirects (renamed repositories), as huggingface_hub.
FileMeta file_metadata(const HfPullOptions& o, const std::string& endpoint, const std::string& token,
                       const std::string& revision, const std::string& path) {
  std::string url =
      endpoint + "/" + o.repo_id + "/resolve/" + url_escape(revision, false) + "/" + url_escape(path, true);
  for (int hop = 0; hop < 5; ++hop) {
    Http h;
    h.url = url;
    h.head = true;
    h.token = token;
    h.connect_timeout_s = o.connect_timeout_s;
    h.stall_timeout_s = o.stall_timeout_s;
    h.perform();
    if (h.code != CURLE_OK || (h.status >= 400) || h.status < 200)
      throw Error("cannot pull " + o.repo_id + ": " + failure(h, endpoint));
    const std::string location = h.header("location");
    if (h.status >= 300 && h.status < 400 && location.rfind("/", 0) == 0 &&
        h.header("x-linked-etag").empty()) {
      url = endpoint + location;  // a relative redirect: the same server
      continue;
    }
    FileMeta m;
    m.url =
        endpoint + "/" + o.repo_id + "/resolve/" + url_escape(revision, false) + "/" + url_escape(path, true);
    if (url != m.url) m.url = url;
    m.commit = h.header("x-repo-commit");
    m.etag =
        normalize_etag(!h.header("x-linked-etag").empty() ? h.header("x-linked-etag") : h.header("etag"));
    const std::string size =
        !h.header("x-linked-size").empty() ? h.header("x-linked-size") : h.header("content-length");
    m.size = parse_int(size).value_or(-1);
    if (!h.header("x-linked-etag").empty() && is_sha256(m.etag)) m.sha256 = m.etag;
    if (!is_commit_hash(m.commit))
      throw Error("cannot pull " + o.repo_id + ": " + h.url + " names no commit (X-Repo-Commit '" +
                  one_line(m.commit).substr(0, 64) + "')");
    if (!safe_etag(m.etag))
      throw Error("cannot pull " + o.repo_id + ": " + h.url + " has no usable ETag ('" +
                  one_line(m.etag).substr(0, 64) + "')");
    return m;
  }
  throw Error("cannot pull " + o.repo_id + ": too many redirects for " + path);
}

// The repository listing of the API.
std::pair<std::string, std::vector<HfRepoFile>> list_repo(const HfPullOptions& o, const std::string& endpoint,
                                                          const std::string& token) {
  Http h;
  h.url =
      endpoint + "/api/models/" + o.repo_id + "/revision/" + url_escape(o.revision, false) + "?blobs=true";
  h.token = token;
  h.follow = true;
  h.body_limit = kMaxHfListingBytes;
  h.connect_timeout_s = o.connect_timeout_s;
  h.stall_timeout_s = o.stall_timeout_s;
  h.perform();
  if (h.body_too_big)
    throw Error("cannot pull " + o.repo_id + ": the listing " + h.url + " is larger than " +
                std::to_string(kMaxHfListingBytes) + " bytes");
  if (h.code != CURLE_OK || !h.ok_status())
    throw Error("cannot pull " + o.repo_id + ": " + failure(h, endpoint));
  HfRepoListing listing = parse_hf_repo_listing(h.body, h.url);
  return {listing.commit, std::move(listing.files)};
}

// ".<name><suffix><pid>": a temporary name beside `path`.
std::string hidden_name(const fs::path& path, const char* suffix) {
  std::string out(1, '.');
  out.append(path.filename().string());
  out.append(suffix);
  out.append(std::to_string(::getpid()));
  return out;
}

// Writes `text` to `path` through a temporary file renamed over it.
void write_atomically(const fs::path& path, const std::string& text) {
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  const fs::path tmp = path.parent_path() / hidden_name(path, ".tmp");
  {
    std::FILE* f = std::fopen(tmp.c_str(), "wb");
    if (!f) throw Error("cannot write " + tmp.string());
    const bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
    if (std::fclose(f) != 0 || !ok) {
      fs::remove(tmp, ec);
      throw Error("cannot write " + tmp.string());
    }
  }
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    throw Error("cannot place " + path.string() + ": " + ec.message());
  }
}

// snapshots/<commit>/<path> -> ../../blobs/<etag> (relative, as huggingface_hub), placed atomically.
void link_pointer(const fs::path& pointer, const fs::path& blob) {
  std::error_code ec;
  fs::create_directories(pointer.parent_path(), ec);
  if (ec) throw Error("cannot create " + pointer.parent_path().string() + ": " + ec.message());
  const fs::path target = blob.lexically_relative(pointer.parent_path());
  const fs::path tmp = pointer.parent_path() / hidden_name(pointer, ".link");
  fs::remove(tmp, ec);
  fs::create_symlink(target, tmp, ec);
  if (ec) throw Error("cannot link " + pointer.string() + ": " + ec.message());
  fs::rename(tmp, pointer, ec);
  if (ec) {
    fs::remove(tmp, ec);
    throw Error("cannot place " + pointer.string() + ": " + ec.message());
  }
}

int64_t size_or(const fs::path& p, int64_t fallback) {
  std::error_code ec;
  const auto n = fs::file_size(p, ec);
  return ec ? fallback : static_cast<int64_t>(n);
}

// An exclusive flock on a lock file (huggingface_hub's <cache>/.locks/<repo folder>/<etag>.lock), released
// when destroyed. The file stays (removing it would race with a process opening it).
class FileLock {
 public:
  FileLock(const HfPullOptions& o, const std::string& path, const fs::path& lock_file) {
    std::error_code ec;
    fs::create_directories(lock_file.parent_path(), ec);
    if (ec) throw Error("cannot create " + lock_file.parent_path().string() + ": " + ec.message());
    fd_ = ::open(lock_file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) throw Error("cannot open the lock file " + lock_file.string() + ": " + std::strerror(errno));
    const auto start = std::chrono::steady_clock::now();
    bool told = false;
    while (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      if (errno != EWOULDBLOCK && errno != EINTR) {
        const std::string why = std::strerror(errno);
        ::close(fd_);
        throw Error("cannot lock " + lock_file.string() + ": " + why);
      }
      const std::string holder = holder_of(lock_file);
      const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (o.lock_timeout_s >= 0 && waited >= o.lock_timeout_s) {
        ::close(fd_);
        throw Error("cannot pull " + o.repo_id + ": " + path + " is being downloaded by " + holder +
                    " (lock " + lock_file.string() + "); try again when it is done");
      }
      if (!told && o.on_wait)
        o.on_wait(path + " is being downloaded by " + holder + " (lock " + lock_file.string() +
                  "): waiting for it");
      told = true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    // Says who holds it, for a pull that waits (huggingface_hub's filelock writes nothing).
    const std::string me = "pid " + std::to_string(::getpid()) + " (i2i pull " + o.repo_id + ")\n";
    if (::ftruncate(fd_, 0) == 0) {
      const ssize_t n = ::pwrite(fd_, me.data(), me.size(), 0);
      (void)n;
    }
  }
  ~FileLock() {
    (void)::ftruncate(fd_, 0);
    ::close(fd_);  // releases the flock
  }
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  // What the lock file says of its holder (its first line, printable characters only).
  static std::string holder_of(const fs::path& lock_file) {
    std::string line;
    if (std::FILE* f = std::fopen(lock_file.c_str(), "rb")) {
      char buf[128] = {0};
      const size_t n = std::fread(buf, 1, sizeof buf - 1, f);
      std::fclose(f);
      for (size_t i = 0; i < n && buf[i] != '\n'; ++i)
        if (buf[i] >= 0x20 && buf[i] < 0x7f) line += buf[i];
    }
    return line.empty() ? "another process (no pid recorded: huggingface_hub?)" : line;
  }
  int fd_ = -1;
};

int64_t free_bytes_of(const HfPullOptions& o, const fs::path& folder) {
  if (o.free_bytes) return o.free_bytes(folder);
  struct statvfs st {};
  if (::statvfs(folder.c_str(), &st) != 0) return -1;  // unknown: not checked
  return static_cast<int64_t>(st.f_bavail) * static_cast<int64_t>(st.f_frsize);
}

// Throws when the blobs folder has less free space than the rest of the file needs.
void check_free_space(const HfPullOptions& o, const std::string& path, const fs::path& blob, int64_t size) {
  if (size < 0) return;  // unknown size: the write fails if the disk fills
  const int64_t have = size_or(fs::path(blob.string() + ".incomplete"), 0);
  const int64_t need = std::max<int64_t>(0, size - std::min(have, size));
  const int64_t free = free_bytes_of(o, blob.parent_path());
  if (free >= 0 && need > free)
    throw Error("cannot pull " + o.repo_id + ": " + path + " needs " + std::to_string(need) + " bytes (" +
                std::to_string(need >> 20) + " MiB) in " + blob.parent_path().string() + ", only " +
                std::to_string(free) + " bytes (" + std::to_string(free >> 20) + " MiB) are free");
}

// Downloads one file into its blob (resuming blobs/<etag>.incomplete) and verifies it.
void download_blob(const HfPullOptions& o, const std::string& endpoint, const std::string& token,
                   const std::string& path, const FileMeta& m, const fs::path& blob,
                   const std::function<void(int64_t, int64_t, bool)>& report) {
  const fs::path part = fs::path(blob.string() + ".incomplete");
  const int64_t limit = hf_max_file_bytes(path);
  if (m.size > limit)
    throw Error("cannot pull " + o.repo_id + ": " + path + " is " + std::to_string(m.size) +
                " bytes, more than the " + std::to_string(limit) + " accepted for such a file");
  std::string last;
  const int attempts = std::max(1, o.max_attempts);
  bool complete = false;
  for (int attempt = 1; attempt <= attempts && !complete; ++attempt) {
    int64_t offset = size_or(part, 0);
    if (m.size >= 0 && offset > m.size) offset = 0;  // longer than the file: start again
    std::FILE* f = std::fopen(part.c_str(), offset > 0 ? "ab" : "wb");
    if (!f) throw Error("cannot write " + part.string());
    Http h;
    h.url = m.url;
    h.follow = true;
    h.token = token;
    h.offset = offset;
    h.sink = f;
    h.max_bytes = m.size >= 0 ? std::min(limit, m.size) : limit;
    h.connect_timeout_s = o.connect_timeout_s;
    h.stall_timeout_s = o.stall_timeout_s;
    h.on_bytes = [&](int64_t n) { report(n, m.size, false); };
    if (offset > 0 && offset == m.size) {
      std::fclose(f);
      complete = true;  // a complete part from an earlier run: verify it
      break;
    }
    h.perform();
    const bool closed = std::fclose(f) == 0;
    if (h.write_failed || !closed)
      throw Error("cannot write " + part.string() + " while downloading " + h.url);
    if (h.too_big) {
      std::error_code ec;
      fs::remove(part, ec);
      throw Error("cannot pull " + o.repo_id + ": " + h.url + " sends more than the " +
                  std::to_string(h.max_bytes) + " bytes announced or accepted; deleted");
    }
    if (h.range_mismatch || (h.code == CURLE_OK && h.status == 416)) {
      std::error_code ec;
      fs::remove(part, ec);
      last = h.url + ": the server answered the resume request with another range";
      continue;
    }
    if (h.code == CURLE_OK && !h.ok_status()) {
      if (h.status >= 500) {
        last = failure(h, endpoint);
        continue;
      }
      throw Error("cannot pull " + o.repo_id + ": " + failure(h, endpoint));
    }
    if (h.code != CURLE_OK) {
      if (unreachable(h.code) && h.written == 0 && attempt == attempts)
        throw Error("cannot pull " + o.repo_id + ": " + failure(h, endpoint));
      last = failure(h, endpoint);
      continue;
    }
    complete = true;
  }
  if (!complete) {
    const int64_t kept = size_or(part, 0);
    throw Error(
        "cannot pull " + o.repo_id + ": " + path + " failed after " + std::to_string(attempts) +
        (attempts == 1 ? " attempt: " : " attempts: ") + last +
        (kept > 0 ? " (" + std::to_string(kept) + " bytes kept in " + part.string() + "; run again to resume)"
                  : ""));
  }
  const int64_t got = size_or(part, -1);
  std::error_code ec;
  if (m.size >= 0 && got != m.size) {
    fs::remove(part, ec);
    throw Error("cannot pull " + o.repo_id + ": " + path + " has " + std::to_string(got) +
                " bytes, not the " + std::to_string(m.size) + " announced; deleted");
  }
  if (!m.sha256.empty()) {
    const std::string sha = sha256_file(part);
    if (sha != m.sha256) {
      fs::remove(part, ec);
      throw Error("cannot pull " + o.repo_id + ": " + path + " has SHA-256 " + sha + ", not the " + m.sha256 +
                  " of its LFS metadata; deleted");
    }
  }
  fs::rename(part, blob, ec);
  if (ec) throw Error("cannot place " + blob.string() + ": " + ec.message());
  report(got, got, true);
}

}  // namespace

std::string hf_endpoint(const std::string& given) {
  std::string e = given.empty() ? env_or("HF_ENDPOINT", kDefaultEndpoint) : given;
  while (!e.empty() && e.back() == '/') e.pop_back();
  return e;
}

HfPullResult hf_pull(const HfPullOptions& o) {
  if (!is_hf_repo_id(o.repo_id))
    throw ParameterError("{repo} " + Error::literal("'" + o.repo_id + "'") +
                         " is not a repository name (org/name)");
  if (!is_hf_revision(o.revision))
    throw ParameterError("{revision} " + Error::literal("'" + o.revision + "'") +
                         " is not a usable revision");
  for (const std::string& f : o.files)
    if (!is_safe_repo_path(f))
      throw ParameterError("{file} " + Error::literal("'" + f + "'") + " is not a file path in a repository");
  const fs::path cache = o.cache.empty() ? hf_hub_cache_dir() : o.cache;
  if (cache.empty())
    throw Error("no Hugging Face cache folder: set HF_HUB_CACHE or HF_HOME (HOME is not set)");
  const std::string endpoint = hf_endpoint(o.endpoint);
  const std::string token =
      !o.token.empty() ? o.token : env_or("HF_TOKEN", env_or("HUGGING_FACE_HUB_TOKEN", ""));
  const fs::path repo = hf_repo_folder(cache, o.repo_id);

  HfPullResult r;
  std::vector<HfRepoFile> wanted;
  if (o.files.empty()) {
    auto [commit, files] = list_repo(o, endpoint, token);
    r.commit = commit;
    wanted = select_repo_files(files, o.include, o.exclude, o.variant);
    if (wanted.empty())
      throw Error("cannot pull " + o.repo_id +
                  ": no file of it matches the --include / --exclude / --variant given");
  } else {
    for (const std::string& f : o.files) wanted.push_back({f, -1, ""});
  }
  // Files already in the snapshot (when the commit is known) are not fetched again.
  std::vector<HfRepoFile> to_fetch;
  for (const HfRepoFile& f : wanted) {
    std::error_code ec;
    if (!o.force_download && !r.commit.empty() && fs::exists(repo / "snapshots" / r.commit / f.path, ec) &&
        (f.size < 0 || size_or(repo / "snapshots" / r.commit / f.path, -1) == f.size))
      r.present.push_back(f.path);
    else
      to_fetch.push_back(f);
  }
  int64_t all_bytes = 0;
  for (const HfRepoFile& f : to_fetch) all_bytes = f.size < 0 || all_bytes < 0 ? -1 : all_bytes + f.size;

  int64_t done = 0;
  for (size_t i = 0; i < to_fetch.size(); ++i) {
    const HfRepoFile& f = to_fetch[i];
    const FileMeta m = file_metadata(o, endpoint, token, r.commit.empty() ? o.revision : r.commit, f.path);
    if (r.commit.empty()) r.commit = m.commit;
    if (m.commit != r.commit)
      throw Error("cannot pull " + o.repo_id + ": " + f.path + " is at commit " + m.commit + ", not " +
                  r.commit);
    FileMeta meta = m;
    if (!f.lfs_sha256.empty()) {
      if (!meta.sha256.empty() && meta.sha256 != f.lfs_sha256)
        throw Error("cannot pull " + o.repo_id + ": " + f.path + ": X-Linked-Etag " + meta.sha256 +
                    " disagrees with the listing's lfs.sha256 " + f.lfs_sha256);
      meta.sha256 = f.lfs_sha256;
    }
    if (meta.size < 0) meta.size = f.size;
    if (f.size >= 0 && meta.size != f.size)
      throw Error("cannot pull " + o.repo_id + ": " + f.path + " is " + std::to_string(meta.size) +
                  " bytes by its headers and " + std::to_string(f.size) + " by the listing");
    const fs::path blob = repo / "blobs" / meta.etag;
    std::error_code ec;
    fs::create_directories(blob.parent_path(), ec);
    if (ec) throw Error("cannot create " + blob.parent_path().string() + ": " + ec.message());
    const auto report = [&](int64_t received, int64_t total, bool finished) {
      if (!o.progress) return;
      HfPullProgress p;
      p.file = f.path;
      p.index = static_cast<int>(i) + 1;
      p.count = static_cast<int>(to_fetch.size());
      p.received = received;
      p.total = total;
      p.done_bytes = done;
      p.all_bytes = all_bytes;
      p.finished = finished;
      o.progress(p);
    };
    {
      // One process per blob (another pull of this cache, i2i's or huggingface_hub's, waits here).
      const FileLock lock(o, f.path, cache / ".locks" / repo.filename() / (meta.etag + ".lock"));
      const bool have_blob = !o.force_download && fs::is_regular_file(blob, ec) &&
                             (meta.size < 0 || size_or(blob, -1) == meta.size) &&
                             (meta.sha256.empty() || sha256_file(blob) == meta.sha256);
      if (!have_blob) {
        if (o.force_download) fs::remove(fs::path(blob.string() + ".incomplete"), ec);
        check_free_space(o, f.path, blob, meta.size);
        download_blob(o, endpoint, token, f.path, meta, blob, report);
      } else {
        report(meta.size, meta.size, true);
      }
      link_pointer(repo / "snapshots" / r.commit / f.path, blob);
    }
    done += std::max<int64_t>(0, meta.size);
    r.downloaded.push_back(f.path);
  }
  if (!r.commit.empty() && o.revision != r.commit) write_atomically(repo / "refs" / o.revision, r.commit);
  r.snapshot = repo / "snapshots" / r.commit;
  return r;
}

}  // namespace i2i
