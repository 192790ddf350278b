#include "text/tokenizer_fetch.h"

#include <curl/curl.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <optional>

#include "core/error.h"
#include "text/tokenizer.h"

namespace i2i {
namespace {

namespace fs = std::filesystem;

constexpr const char* kFiles[] = {"vocab.json", "merges.txt"};

void global_init() {
  static std::once_flag once;
  static CURLcode code = CURLE_OK;
  std::call_once(once, [] { code = curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (code != CURLE_OK) throw Error(std::string("cannot initialise libcurl: ") + curl_easy_strerror(code));
}

std::string endpoint_of(const PullTokenizerOptions& options) {
  std::string e = options.endpoint;
  if (e.empty())
    if (const char* env = std::getenv("I2I_HF_ENDPOINT"); env && *env) e = env;
  if (e.empty()) e = kDefaultHfEndpoint;
  while (!e.empty() && e.back() == '/') e.pop_back();
  return e;
}

int64_t file_size_or_zero(const fs::path& p) {
  std::error_code ec;
  auto size = fs::file_size(p, ec);
  return ec ? 0 : static_cast<int64_t>(size);
}

void remove_quietly(const fs::path& p) {
  std::error_code ec;
  fs::remove(p, ec);
}

bool starts_with_ci(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    char a = s[i], b = prefix[i];
    if (a >= 'A' && a <= 'Z') a = static_cast<char>(a - 'A' + 'a');
    if (b >= 'A' && b <= 'Z') b = static_cast<char>(b - 'A' + 'a');
    if (a != b) return false;
  }
  return true;
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

// One HTTP transfer of a file into its .part file.
struct Transfer {
  std::string url;
  std::string file;
  fs::path part;
  int64_t offset = 0;  // bytes already in `part` when the request was sent (asked for with Range)
  const std::function<void(const PullProgress&)>* progress = nullptr;

  // Per response (reset at every status line: redirects produce several).
  long status = 0;
  int64_t content_length = -1;
  std::optional<int64_t> range_start, range_total;

  std::FILE* out = nullptr;
  bool opened = false;
  int64_t base = 0;     // bytes kept from before this transfer (offset if the server honoured Range, else 0)
  int64_t written = 0;  // bytes written by this transfer
  int64_t last_reported = -1;
  bool range_mismatch = false;
  bool write_failed = false;
  bool too_big = false;    // the file would pass kMaxTokenizerFileBytes: stopped before writing more
  std::string error_body;  // the start of a non-2xx body, for the message

  ~Transfer() {
    if (out) std::fclose(out);
  }

  bool success_status() const { return status == 200 || status == 206; }

  int64_t total() const {
    if (range_total) return *range_total;
    if (content_length >= 0) return base + content_length;
    return -1;
  }

  void report(bool finished) {
    if (!progress || !*progress) return;
    int64_t received = base + written;
    if (!finished && received == last_reported) return;
    last_reported = received;
    PullProgress p;
    p.file = file;
    p.url = url;
    p.received = received;
    p.total = total();
    p.resumed_from = base;
    p.finished = finished;
    (*progress)(p);
  }

  // Opens the .part file on the first body byte of a 200/206 response: a 206 continues it, a 200 restarts it.
  bool open_output() {
    opened = true;
    if (status == 206) {
      if (!range_start || *range_start != offset) {
        range_mismatch = true;
        return false;
      }
      base = offset;
      out = std::fopen(part.c_str(), "ab");
    } else {
      base = 0;
      out = std::fopen(part.c_str(), "wb");
    }
    if (!out) write_failed = true;
    return out != nullptr;
  }

  static size_t on_header(char* data, size_t size, size_t count, void* self_ptr) {
    auto* self = static_cast<Transfer*>(self_ptr);
    std::string_view line(data, size * count);
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
    if (starts_with_ci(line, "HTTP/")) {
      size_t sp = line.find(' ');
      self->status = sp == std::string_view::npos ? 0 : parse_int(line.substr(sp + 1)).value_or(0);
      self->content_length = -1;
      self->range_start.reset();
      self->range_total.reset();
    } else if (starts_with_ci(line, "content-length:")) {
      self->content_length = parse_int(line.substr(15)).value_or(-1);
    } else if (starts_with_ci(line, "content-range:")) {
      // Content-Range: bytes <start>-<end>/<total or *>
      std::string_view v = line.substr(14);
      size_t b = v.find("bytes");
      if (b != std::string_view::npos) {
        v = v.substr(b + 5);
        self->range_start = parse_int(v);
        size_t slash = v.find('/');
        if (slash != std::string_view::npos) {
          auto t = parse_int(v.substr(slash + 1));
          if (t) self->range_total = t;
        }
      }
    }
    return size * count;
  }

  static size_t on_body(char* data, size_t size, size_t count, void* self_ptr) {
    auto* self = static_cast<Transfer*>(self_ptr);
    size_t n = size * count;
    if (!self->success_status()) {
      if (self->error_body.size() < 200)
        self->error_body.append(data, std::min(n, 200 - self->error_body.size()));
      return n;
    }
    if (!self->opened && !self->open_output()) return 0;
    if (!self->out) return 0;
    // Announced or received, more than a tokenizer file can be: stop before writing it.
    if (self->total() > kMaxTokenizerFileBytes ||
        self->base + self->written + static_cast<int64_t>(n) > kMaxTokenizerFileBytes) {
      self->too_big = true;
      return 0;
    }
    if (std::fwrite(data, 1, n, self->out) != n) {
      self->write_failed = true;
      return 0;
    }
    self->written += static_cast<int64_t>(n);
    return n;
  }

  static int on_progress(void* self_ptr, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
    auto* self = static_cast<Transfer*>(self_ptr);
    if (self->opened && self->out) self->report(false);
    return 0;
  }
};

enum class Outcome { kOk, kRetry, kRestart };

struct AttemptResult {
  Outcome outcome;
  std::string message;
};

std::string one_line(std::string s) {
  for (char& c : s)
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

// One request. Throws for failures a retry cannot fix (HTTP 4xx, local write errors).
AttemptResult download_once(const PullTokenizerOptions& options, Transfer& t) {
  CURL* curl = curl_easy_init();
  if (!curl) throw Error("cannot create a libcurl handle");
  struct Cleanup {
    CURL* c;
    ~Cleanup() { curl_easy_cleanup(c); }
  } cleanup{curl};
  char errbuf[CURL_ERROR_SIZE] = {0};
  std::string range = std::to_string(t.offset) + "-";
  curl_easy_setopt(curl, CURLOPT_URL, t.url.c_str());
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 10L);
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "i2i/0.1 (tokenizer download)");
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, options.connect_timeout_s);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, options.stall_timeout_s);
  if (t.offset > 0) curl_easy_setopt(curl, CURLOPT_RANGE, range.c_str());
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, &Transfer::on_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &Transfer::on_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, &Transfer::on_progress);
  curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &t);
  curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);

  CURLcode code = curl_easy_perform(curl);
  bool close_failed = false;
  if (t.out) {
    close_failed = std::fclose(t.out) != 0;
    t.out = nullptr;
  }
  if (t.write_failed || close_failed)
    throw Error("cannot write " + t.part.string() + " while downloading " + t.url);
  if (t.too_big) {
    remove_quietly(t.part);
    throw Error("cannot download the tokenizer: " + t.url + " is larger than " +
                std::to_string(kMaxTokenizerFileBytes) + " bytes, more than a tokenizer file can be");
  }
  if (t.range_mismatch)
    return {Outcome::kRestart, t.url + ": the server answered the resume request with the wrong range"};
  if (code == CURLE_OK && t.status == 416)
    return {Outcome::kRestart, t.url + ": HTTP 416 (range not satisfiable) when resuming"};
  if (code == CURLE_OK && !t.success_status()) {
    std::string msg = t.url + ": HTTP " + std::to_string(t.status);
    if (t.status == 404)
      msg += " (not found)";
    else if (t.status == 401 || t.status == 403)
      msg += " (access denied)";
    std::string body = one_line(t.error_body);
    if (!body.empty()) msg += ": " + body.substr(0, 120);
    if (t.status >= 500) return {Outcome::kRetry, msg};
    throw Error("cannot download the tokenizer: " + msg);
  }
  if (code != CURLE_OK) {
    std::string detail = errbuf[0] ? one_line(errbuf) : curl_easy_strerror(code);
    return {Outcome::kRetry, t.url + ": " + detail};
  }
  // A 200/206 with an empty body never opened the file: make the (empty) result exist.
  if (!t.opened) {
    std::FILE* f = std::fopen(t.part.c_str(), t.status == 206 ? "ab" : "wb");
    if (!f) throw Error("cannot write " + t.part.string());
    std::fclose(f);
    if (t.status == 200) t.base = 0;
  }
  t.report(true);
  return {Outcome::kOk, {}};
}

// Downloads one file into <dest>/<file>.part, resuming what an earlier attempt left there.
void download_file(const PullTokenizerOptions& options, const std::string& endpoint, const fs::path& dest,
                   const std::string& file) {
  const std::string url = tokenizer_file_url(endpoint, file);
  const fs::path part = dest / (file + ".part");
  const int attempts = std::max(1, options.max_attempts);
  std::string last_error;
  for (int attempt = 1; attempt <= attempts; ++attempt) {
    Transfer t;
    t.url = url;
    t.file = file;
    t.part = part;
    t.offset = file_size_or_zero(part);
    t.progress = &options.progress;
    AttemptResult r = download_once(options, t);
    if (r.outcome == Outcome::kOk) return;
    if (r.outcome == Outcome::kRestart) remove_quietly(part);
    last_error = r.message;
  }
  std::string kept = file_size_or_zero(part) > 0
                         ? " (" + std::to_string(file_size_or_zero(part)) + " bytes kept in " +
                               part.string() + "; run again to resume)"
                         : "";
  throw Error("cannot download the tokenizer after " + std::to_string(attempts) +
              (attempts == 1 ? " attempt: " : " attempts: ") + last_error + kept);
}

bool valid_tokenizer(const fs::path& dir) {
  if (!has_tokenizer_files(dir)) return false;
  try {
    check_vocab_file(dir / "vocab.json", true);
    check_merges_file(dir / "merges.txt", true);
    return true;
  } catch (const Error&) {
    return false;
  }
}

}  // namespace

std::string tokenizer_file_url(const std::string& endpoint, const std::string& file) {
  std::string e = endpoint;
  while (!e.empty() && e.back() == '/') e.pop_back();
  return e + "/" + kTokenizerRepo + "/resolve/main/" + file;
}

PullResult pull_tokenizer(const PullTokenizerOptions& options) {
  PullResult result;
  result.dir = options.dest.empty() ? default_tokenizer_cache_dir() : options.dest;
  if (result.dir.empty())
    throw Error("cannot choose a tokenizer cache folder: neither XDG_CACHE_HOME nor HOME is set");
  if (!options.force && valid_tokenizer(result.dir)) return result;

  std::error_code ec;
  fs::create_directories(result.dir, ec);
  if (ec) throw Error("cannot create the tokenizer folder " + result.dir.string() + ": " + ec.message());
  global_init();
  const std::string endpoint = endpoint_of(options);

  // Bodies of HTTP error answers (e.g. 404 pages) are never written; a partial .part stays for resuming.
  for (const char* file : kFiles) download_file(options, endpoint, result.dir, file);

  const fs::path vocab_part = result.dir / "vocab.json.part", merges_part = result.dir / "merges.txt.part";
  try {
    check_vocab_file(vocab_part, true);
    check_merges_file(merges_part, true);
  } catch (const Error& e) {
    remove_quietly(vocab_part);
    remove_quietly(merges_part);
    throw Error("the downloaded tokenizer from " + endpoint + "/" + kTokenizerRepo +
                " failed validation and was deleted: " + e.what());
  }
  for (const char* file : kFiles) {
    fs::rename(result.dir / (std::string(file) + ".part"), result.dir / file, ec);
    if (ec)
      throw Error("cannot move the downloaded " + std::string(file) + " into " + result.dir.string() + ": " +
                  ec.message());
  }
  result.downloaded = true;
  return result;
}

}  // namespace i2i
