#include "text/tokenizer_fetch.h"

#include <unistd.h>

#include <cstdlib>

#include "core/error.h"
#include "io/hf_cache.h"
#include "text/tokenizer.h"

namespace i2i {
namespace {

namespace fs = std::filesystem;

constexpr const char* kFiles[] = {"vocab.json", "merges.txt"};

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

std::string endpoint_of(const PullTokenizerOptions& o) {
  if (!o.endpoint.empty()) return o.endpoint;
  if (const char* v = std::getenv("HF_ENDPOINT"); v && *v) return v;
  if (const char* v = std::getenv("I2I_HF_ENDPOINT"); v && *v) return v;
  return "";  // hf_pull's default
}

// Removes a pulled file that failed its check: the snapshot link and the blob it points to.
void remove_pulled(const fs::path& link) {
  std::error_code ec;
  const fs::path target = fs::read_symlink(link, ec);
  if (!ec) fs::remove(target.is_absolute() ? target : link.parent_path() / target, ec);
  fs::remove(link, ec);
}

// Copies `from` to `to` through a temporary file beside it, renamed into place.
void place_copy(const fs::path& from, const fs::path& to) {
  std::string tmp_name = ".";  // (appended piecewise: GCC 12 warns falsely on "." + std::string&&)
  tmp_name += to.filename().string();
  tmp_name += ".part" + std::to_string(::getpid());
  const fs::path tmp = to.parent_path() / tmp_name;
  std::error_code ec;
  fs::copy_file(from, tmp, fs::copy_options::overwrite_existing, ec);
  if (!ec) fs::rename(tmp, to, ec);
  if (ec) {
    std::error_code ignored;
    fs::remove(tmp, ignored);
    throw Error("cannot place " + to.string() + ": " + ec.message());
  }
}

}  // namespace

PullResult pull_tokenizer(const PullTokenizerOptions& options) {
  PullResult result;
  result.dir = options.dest.empty() ? default_tokenizer_cache_dir() : options.dest;
  if (result.dir.empty())
    throw Error(
        "cannot choose a tokenizer cache folder: neither XDG_CACHE_HOME nor HOME is set to an absolute path");
  if (!options.force && valid_tokenizer(result.dir)) return result;

  HfPullOptions o;
  o.repo_id = kTokenizerRepo;
  o.files = {kFiles[0], kFiles[1]};
  o.cache = options.cache;
  o.endpoint = endpoint_of(options);
  o.token = options.token;
  o.progress = options.progress;
  o.on_wait = options.on_wait;
  o.max_attempts = options.max_attempts;
  o.connect_timeout_s = options.connect_timeout_s;
  o.stall_timeout_s = options.stall_timeout_s;
  o.force_download = options.force;
  const HfPullResult pulled = hf_pull(o);

  try {
    check_vocab_file(pulled.snapshot / "vocab.json", true);
    check_merges_file(pulled.snapshot / "merges.txt", true);
  } catch (const Error& e) {
    for (const char* file : kFiles) remove_pulled(pulled.snapshot / file);
    throw Error("the tokenizer pulled from " + hf_endpoint(o.endpoint) + "/" + kTokenizerRepo +
                " failed validation and was deleted: " + e.what());
  }
  std::error_code ec;
  fs::create_directories(result.dir, ec);
  if (ec) throw Error("cannot create the tokenizer folder " + result.dir.string() + ": " + ec.message());
  for (const char* file : kFiles) place_copy(pulled.snapshot / file, result.dir / file);
  result.downloaded = true;
  return result;
}

}  // namespace i2i
