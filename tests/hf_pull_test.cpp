// `i2i pull org/name` (io/hf_pull.h) against a local server that speaks the hub's protocol (cpp-httplib on
// 127.0.0.1, an ephemeral port, in a thread): the API listing, resolve URLs with ETag / X-Linked-Etag /
// X-Repo-Commit / X-Linked-Size and redirects of LFS files to a "CDN", range requests. It serves the
// fixtures' tiny-sd15 diffusers folder as the repository fixtures/tiny-sd15 (plus a root-level single file
// and an fp16 variant) and covers: a full pull laid out as huggingface_hub lays it out, one FILE, a
// disconnect in mid-file and its resume with Range (in the next call and within one), a wrong checksum,
// a gated repository (401 without HF_TOKEN), an unreachable endpoint, hostile listings, the per-file lock
// between two pulls, the disk-space check, and the CLI. It also serves openai/clip-vit-large-patch14's
// vocab.json (LFS) and merges.txt (plain) from the fixtures' tokenizer for `i2i pull tokenizer`
// (text/tokenizer_fetch.h). Never contacts the internet.
#include "io/hf_pull.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <sys/file.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "core/error.h"
#include "io/file_hash.h"
#include "io/hf_cache.h"
#include "models/model_names.h"
#include "support/cli_run.h"
#include "support/fixtures.h"
#include "text/tokenizer_fetch.h"

namespace i2i {
namespace {
namespace fs = std::filesystem;

const std::string kCommit = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678";

struct NoProxy {
  NoProxy() {
    // The transfers go to 127.0.0.1: keep any proxy configured in the environment out of the way.
    ::setenv("no_proxy", "127.0.0.1,localhost", 1);
    ::setenv("NO_PROXY", "127.0.0.1,localhost", 1);
  }
};
const NoProxy no_proxy;

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct RepoFile {
  std::string bytes;
  bool lfs = false;
  std::string sha256;
};

// A hub for tests. Repositories: fixtures/tiny-sd15 (public) and fixtures/gated (needs "Bearer secret").
class FakeHub {
 public:
  FakeHub() {
    const fs::path src = test::models_dir() / "tiny-sd15";
    for (const auto& e : fs::recursive_directory_iterator(src)) {
      if (!e.is_regular_file()) continue;
      add(e.path().lexically_relative(src).generic_string(), read_all(e.path()));
    }
    // A single-file checkpoint at the root (skipped by default) and an fp16 variant of the UNet weights.
    add("tiny-sd15.safetensors", read_all(test::models_dir() / "tiny-sd15.safetensors"));
    add("unet/diffusion_pytorch_model.fp16.safetensors",
        files_.at("unet/diffusion_pytorch_model.safetensors").bytes + "");
    // The CLIP tokenizer's repository: vocab.json in LFS (redirected to the CDN), merges.txt served plain.
    set_tokenizer_file("vocab.json", read_all(test::fixture_path("tokenizer/vocab.json")), true);
    set_tokenizer_file("merges.txt", read_all(test::fixture_path("tokenizer/merges.txt")), false);
    routes();
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~FakeHub() {
    server_.stop();
    thread_.join();
  }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }

  // Test knobs.
  std::string disconnect_file;      // the CDN drops the connection halfway through this file
  int disconnects = 1;              // this many times
  std::string corrupt_file;         // the CDN serves other bytes (same size) for this file
  std::string hostile_listing;      // served instead of the real listing when not empty
  std::vector<std::string> ranges;  // "path range" of every CDN request with a Range header
  std::string wrong_size_file;      // X-Linked-Size announces 7 bytes more than this file has
  bool gate_tokenizer = false;      // the tokenizer's repository answers 401 without "Bearer secret"

  std::map<std::string, RepoFile> files_;
  std::map<std::string, RepoFile> tokenizer_files_;  // openai/clip-vit-large-patch14
  int cdn_requests = 0;

  void set_tokenizer_file(const std::string& path, const std::string& bytes, bool lfs) {
    tokenizer_files_[path] = {bytes, lfs, sha256_hex(bytes)};
  }

 private:
  void add(const std::string& path, const std::string& bytes) {
    RepoFile f;
    f.bytes = bytes;
    f.lfs = path.size() > 12 && path.substr(path.size() - 12) == ".safetensors";
    f.sha256 = sha256_hex(bytes);
    files_[path] = f;
  }

  bool authorised(const httplib::Request& req, const std::string& repo, httplib::Response& res) {
    const bool gated = repo == "fixtures/gated" || (gate_tokenizer && repo == kTokenizerRepo);
    if (!gated || req.get_header_value("Authorization") == "Bearer secret") return true;
    res.status = 401;
    res.set_content("{\"error\":\"Access to model fixtures/gated is restricted.\"}", "application/json");
    return false;
  }

  void routes() {
    server_.Get(R"(/api/models/([^/]+/[^/]+)/revision/(.+))", [this](const httplib::Request& req,
                                                                     httplib::Response& res) {
      const std::string repo = req.matches[1];
      if (!authorised(req, repo, res)) return;
      if (repo != "fixtures/tiny-sd15" && repo != "fixtures/gated") {
        res.status = 404;
        res.set_content("{\"error\":\"Repository not found\"}", "application/json");
        return;
      }
      if (!hostile_listing.empty()) {
        res.set_content(hostile_listing, "application/json");
        return;
      }
      nlohmann::json siblings = nlohmann::json::array();
      for (const auto& [path, f] : files_) {
        nlohmann::json s = {{"rfilename", path}, {"size", f.bytes.size()}};
        if (f.lfs) s["lfs"] = {{"sha256", f.sha256}, {"size", f.bytes.size()}, {"pointerSize", 134}};
        siblings.push_back(s);
      }
      res.set_content(nlohmann::json({{"id", repo}, {"sha", kCommit}, {"siblings", siblings}}).dump(),
                      "application/json");
    });
    server_.Get(R"(/([^/]+/[^/]+)/resolve/([^/]+)/(.+))", [this](const httplib::Request& req,
                                                                 httplib::Response& res) {
      const std::string repo = req.matches[1], revision = req.matches[2], path = req.matches[3];
      if (!authorised(req, repo, res)) return;
      const auto& files = repo == kTokenizerRepo ? tokenizer_files_ : files_;
      const auto it = files.find(path);
      if (it == files.end() || (revision != "main" && revision != kCommit)) {
        res.status = 404;
        res.set_header("X-Error-Code", "EntryNotFound");
        return;
      }
      res.set_header("X-Repo-Commit", kCommit);
      if (it->second.lfs) {  // as the hub: a redirect to the CDN carrying the LFS metadata
        res.status = 302;
        res.set_header("Location", endpoint() + "/cdn/" + it->second.sha256 + "?file=" + path);
        res.set_header("X-Linked-Etag", "\"" + it->second.sha256 + "\"");
        res.set_header("X-Linked-Size",
                       std::to_string(it->second.bytes.size() + (path == wrong_size_file ? 7 : 0)));
        res.set_header("ETag", "\"0123456789abcdef0123456789abcdef01234567\"");
        return;
      }
      res.set_header("ETag", "W/\"" + it->second.sha256.substr(0, 40) + "\"");
      res.set_content(it->second.bytes, "application/octet-stream");
    });
    server_.Get(R"(/cdn/([0-9a-f]{64}))", [this](const httplib::Request& req, httplib::Response& res) {
      const std::string path = req.get_param_value("file");
      const RepoFile* file = files_.count(path)             ? &files_.at(path)
                             : tokenizer_files_.count(path) ? &tokenizer_files_.at(path)
                                                            : nullptr;
      if (!file) {
        res.status = 404;
        return;
      }
      std::string bytes = file->bytes;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        ++cdn_requests;
        if (req.has_header("Range")) ranges.push_back(path + " " + req.get_header_value("Range"));
      }
      if (path == corrupt_file) bytes[bytes.size() / 2] ^= 0x55;
      const bool cut = path == disconnect_file && disconnects > 0;
      if (cut) --disconnects;
      auto data = std::make_shared<std::string>(std::move(bytes));
      res.set_content_provider(data->size(), "application/octet-stream",
                               [data, cut](size_t offset, size_t length, httplib::DataSink& sink) {
                                 const size_t half = data->size() / 2;
                                 size_t end = offset + length;
                                 if (cut) end = std::min(end, half);
                                 if (end > offset) sink.write(data->data() + offset, end - offset);
                                 return !cut || end < half;  // false: drop the connection
                               });
    });
  }

  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mutex_;
};

HfPullOptions options(const FakeHub& hub, const fs::path& cache,
                      const std::string& repo = "fixtures/tiny-sd15") {
  HfPullOptions o;
  o.repo_id = repo;
  o.cache = cache;
  o.endpoint = hub.endpoint();
  o.connect_timeout_s = 5;
  o.stall_timeout_s = 10;
  return o;
}

fs::path repo_dir(const fs::path& cache) {
  return cache / "models--fixtures--tiny-sd15";
}

TEST(HfPull, PullsARepositoryIntoTheCacheLayout) {
  FakeHub hub;
  const fs::path cache = test::temp_dir("hf_pull_full") / "hub";
  HfPullOptions o = options(hub, cache);
  std::vector<HfPullProgress> seen;
  o.progress = [&](const HfPullProgress& p) { seen.push_back(p); };
  const HfPullResult r = hf_pull(o);
  EXPECT_EQ(r.commit, kCommit);
  const fs::path snapshot = repo_dir(cache) / "snapshots" / kCommit;
  EXPECT_EQ(r.snapshot, snapshot);
  EXPECT_EQ(read_all(repo_dir(cache) / "refs" / "main"), kCommit);
  // Every component file, byte for byte, as a relative link into blobs/ (LFS blobs named by SHA-256).
  size_t n = 0;
  for (const auto& [path, f] : hub.files_) {
    if (path == "tiny-sd15.safetensors" || path == "unet/diffusion_pytorch_model.fp16.safetensors") {
      EXPECT_FALSE(fs::exists(snapshot / path)) << path << " is not one a diffusers pipeline uses";
      continue;
    }
    ++n;
    ASSERT_TRUE(fs::is_symlink(snapshot / path)) << path;
    const fs::path target = fs::read_symlink(snapshot / path);
    EXPECT_TRUE(target.is_relative()) << target;
    EXPECT_EQ(target.parent_path().filename(), "blobs") << target;
    if (f.lfs) {
      EXPECT_EQ(target.filename(), f.sha256) << path;
    }
    EXPECT_EQ(read_all(snapshot / path), f.bytes) << path;
  }
  EXPECT_EQ(r.downloaded.size(), n);
  EXPECT_TRUE(r.present.empty());
  // Progress: each file finishes once, in order, with the overall count.
  size_t finished = 0;
  for (const HfPullProgress& p : seen) {
    EXPECT_EQ(p.count, static_cast<int>(n));
    EXPECT_GT(p.all_bytes, 0);
    if (p.finished) {
      EXPECT_EQ(p.index, static_cast<int>(++finished));
    }
  }
  EXPECT_EQ(finished, n);
  // Nothing half-written is left, and the repository is what --model org/name finds.
  for (const auto& e : fs::recursive_directory_iterator(repo_dir(cache)))
    EXPECT_EQ(e.path().string().find(".incomplete"), std::string::npos) << e.path();
  ::setenv("HF_HUB_CACHE", cache.c_str(), 1);
  EXPECT_EQ(resolve_model_file(ModelKind::Checkpoint, "fixtures/tiny-sd15", "/nonexistent", "model"),
            snapshot.string());
  ::unsetenv("HF_HUB_CACHE");
  // A second pull finds everything there.
  const int before = hub.cdn_requests;
  const HfPullResult again = hf_pull(options(hub, cache));
  EXPECT_TRUE(again.downloaded.empty());
  EXPECT_EQ(again.present.size(), n);
  EXPECT_EQ(hub.cdn_requests, before);
}

TEST(HfPull, OneFileAndTheFp16Variant) {
  FakeHub hub;
  const fs::path cache = test::temp_dir("hf_pull_file") / "hub";
  HfPullOptions o = options(hub, cache);
  o.files = {"unet/config.json"};
  const HfPullResult r = hf_pull(o);
  EXPECT_EQ(r.commit, kCommit);  // from X-Repo-Commit
  EXPECT_EQ(read_all(r.snapshot / "unet/config.json"), hub.files_.at("unet/config.json").bytes);
  EXPECT_EQ(read_all(repo_dir(cache) / "refs" / "main"), kCommit);
  EXPECT_FALSE(fs::exists(r.snapshot / "model_index.json"));

  HfPullOptions v = options(hub, cache);
  v.variant = "fp16";
  v.include = {"unet/*"};
  const HfPullResult rv = hf_pull(v);
  // (--include chooses; the variant preference is for the default selection.)
  EXPECT_TRUE(fs::exists(rv.snapshot / "unet/diffusion_pytorch_model.fp16.safetensors"));

  std::vector<HfRepoFile> files = {{"model_index.json", 1, ""},
                                   {"v1-5.safetensors", 1, ""},
                                   {"v1-5.ckpt", 1, ""},
                                   {"unet/diffusion_pytorch_model.safetensors", 1, ""},
                                   {"unet/diffusion_pytorch_model.fp16.safetensors", 1, ""},
                                   {"unet/diffusion_pytorch_model.bin", 1, ""},
                                   {"unet/config.json", 1, ""},
                                   {"vae/diffusion_pytorch_model.safetensors", 1, ""},
                                   {"safety_checker/pytorch_model.bin", 1, ""}};
  const auto names = [](const std::vector<HfRepoFile>& fs) {
    std::vector<std::string> out;
    for (const HfRepoFile& f : fs) out.push_back(f.path);
    return out;
  };
  EXPECT_EQ(names(select_repo_files(files, {}, {}, "")),
            (std::vector<std::string>{"model_index.json", "unet/diffusion_pytorch_model.safetensors",
                                      "unet/config.json", "vae/diffusion_pytorch_model.safetensors",
                                      "safety_checker/pytorch_model.bin"}));
  EXPECT_EQ(names(select_repo_files(files, {}, {"safety_checker/"}, "fp16")),
            (std::vector<std::string>{"model_index.json", "unet/diffusion_pytorch_model.fp16.safetensors",
                                      "unet/config.json", "vae/diffusion_pytorch_model.safetensors"}));
  EXPECT_EQ(names(select_repo_files(files, {"*.ckpt", "unet/*.json"}, {}, "")),
            (std::vector<std::string>{"v1-5.ckpt", "unet/config.json"}));
}

TEST(HfPull, ResumesAfterADisconnect) {
  FakeHub hub;
  const std::string weights = "unet/diffusion_pytorch_model.safetensors";
  const RepoFile& f = hub.files_.at(weights);
  const fs::path cache = test::temp_dir("hf_pull_resume") / "hub";
  hub.disconnect_file = weights;
  HfPullOptions o = options(hub, cache);
  o.max_attempts = 1;
  const std::string e = test::error_of([&] { hf_pull(o); });
  EXPECT_NE(e.find(weights + " failed after 1 attempt"), std::string::npos) << e;
  EXPECT_NE(e.find("run again to resume"), std::string::npos) << e;
  EXPECT_EQ(e.find('\n'), std::string::npos);
  const fs::path part = repo_dir(cache) / "blobs" / (f.sha256 + ".incomplete");
  ASSERT_TRUE(fs::exists(part));
  EXPECT_EQ(fs::file_size(part), f.bytes.size() / 2);
  EXPECT_FALSE(fs::exists(repo_dir(cache) / "blobs" / f.sha256));
  EXPECT_FALSE(fs::exists(repo_dir(cache) / "snapshots" / kCommit / weights));
  // The next pull continues from where the part ends.
  const HfPullResult r = hf_pull(o);
  EXPECT_EQ(read_all(r.snapshot / weights), f.bytes);
  EXPECT_FALSE(fs::exists(part));
  ASSERT_EQ(hub.ranges.size(), 1u);
  EXPECT_EQ(hub.ranges[0], weights + " bytes=" + std::to_string(f.bytes.size() / 2) + "-");

  // Within one call: a retry resumes.
  FakeHub hub2;
  hub2.disconnect_file = weights;
  const fs::path cache2 = test::temp_dir("hf_pull_retry") / "hub";
  const HfPullResult r2 = hf_pull(options(hub2, cache2));
  EXPECT_EQ(read_all(r2.snapshot / weights), f.bytes);
  EXPECT_EQ(hub2.ranges.size(), 1u);
}

TEST(HfPull, WrongChecksumIsDeletedNeverPlaced) {
  FakeHub hub;
  const std::string weights = "vae/diffusion_pytorch_model.safetensors";
  hub.corrupt_file = weights;
  const fs::path cache = test::temp_dir("hf_pull_checksum") / "hub";
  const std::string e = test::error_of([&] { hf_pull(options(hub, cache)); });
  EXPECT_NE(e.find(weights + " has SHA-256 "), std::string::npos) << e;
  EXPECT_NE(e.find("not the " + hub.files_.at(weights).sha256 + " of its LFS metadata; deleted"),
            std::string::npos)
      << e;
  // Neither the blob nor its .incomplete part is left.
  for (const auto& entry : fs::recursive_directory_iterator(repo_dir(cache)))
    EXPECT_EQ(entry.path().filename().string().find(hub.files_.at(weights).sha256), std::string::npos)
        << entry.path();
  EXPECT_FALSE(fs::exists(repo_dir(cache) / "snapshots" / kCommit / weights));
}

TEST(HfPull, GatedRepositoryNeedsAToken) {
  FakeHub hub;
  const fs::path cache = test::temp_dir("hf_pull_gated") / "hub";
  ::unsetenv("HF_TOKEN");
  ::unsetenv("HUGGING_FACE_HUB_TOKEN");
  HfPullOptions o = options(hub, cache, "fixtures/gated");
  const std::string e = test::error_of([&] { hf_pull(o); });
  EXPECT_NE(e.find("HTTP 401"), std::string::npos) << e;
  EXPECT_NE(e.find("set HF_TOKEN"), std::string::npos) << e;
  EXPECT_FALSE(fs::exists(cache / "models--fixtures--gated" / "snapshots"));
  ::setenv("HF_TOKEN", "wrong", 1);
  EXPECT_NE(test::error_of([&] { hf_pull(o); }).find("HTTP 401"), std::string::npos);
  ::setenv("HF_TOKEN", "secret", 1);
  o.files = {"model_index.json"};
  const HfPullResult r = hf_pull(o);
  ::unsetenv("HF_TOKEN");
  EXPECT_EQ(read_all(r.snapshot / "model_index.json"), hub.files_.at("model_index.json").bytes);
}

TEST(HfPull, UnreachableEndpointAndHostileAnswers) {
  const fs::path cache = test::temp_dir("hf_pull_errors") / "hub";
  int closed_port = 0;
  {
    FakeHub gone;
    closed_port = std::stoi(gone.endpoint().substr(gone.endpoint().rfind(':') + 1));
  }
  HfPullOptions o;
  o.repo_id = "fixtures/tiny-sd15";
  o.cache = cache;
  o.endpoint = "http://127.0.0.1:" + std::to_string(closed_port);
  o.connect_timeout_s = 5;
  const std::string e = test::error_of([&] { hf_pull(o); });
  EXPECT_NE(e.find("cannot reach http://127.0.0.1:"), std::string::npos) << e;

  FakeHub hub;
  const auto listing_error = [&](const std::string& listing) {
    hub.hostile_listing = listing;
    return test::error_of([&] { hf_pull(options(hub, cache)); });
  };
  const std::string sha = "\"sha\":\"" + kCommit + "\"";
  EXPECT_NE(listing_error("{" + sha + ",\"siblings\":[{\"rfilename\":\"../../evil.json\"}]}")
                .find("unsafe file name"),
            std::string::npos);
  EXPECT_NE(listing_error("{" + sha + ",\"siblings\":[{\"rfilename\":\"/etc/x\"}]}").find("unsafe file name"),
            std::string::npos);
  EXPECT_NE(listing_error("{\"sha\":\"../x\",\"siblings\":[]}").find("no commit"), std::string::npos);
  EXPECT_NE(listing_error("[1,2").find("not a JSON object"), std::string::npos);
  // A config file announced at 1 GB is refused before anything is written.
  EXPECT_NE(
      listing_error("{" + sha + ",\"siblings\":[{\"rfilename\":\"model_index.json\",\"size\":1000000000}]}")
          .find("bytes by its headers"),
      std::string::npos);
  EXPECT_FALSE(fs::exists(cache.parent_path() / "evil.json"));
  EXPECT_FALSE(fs::exists(repo_dir(cache) / "snapshots"));
  for (const char* bad : {"", "a//b", "a/./b", "a/../b", "..", "/abs", "a\\b", "a/b/"})
    EXPECT_FALSE(is_safe_repo_path(bad)) << bad;
  EXPECT_TRUE(is_safe_repo_path("unet/diffusion_pytorch_model.safetensors"));
  EXPECT_EQ(hf_max_file_bytes("model_index.json"), int64_t{64} << 20);
  EXPECT_EQ(hf_max_file_bytes("x/model.safetensors"), int64_t{64} << 30);
}

TEST(HfPull, ListingParser) {
  const std::string sha = "\"sha\":\"" + kCommit + "\"";
  const HfRepoListing l = parse_hf_repo_listing(
      "{" + sha +
          ",\"siblings\":[{\"rfilename\":\"a.json\",\"size\":3},{\"rfilename\":\"b/w.safetensors\","
          "\"size\":134,\"lfs\":{\"sha256\":\"" +
          std::string(64, 'A') + "\",\"size\":99}}]}",
      "listing");
  EXPECT_EQ(l.commit, kCommit);
  ASSERT_EQ(l.files.size(), 2u);
  EXPECT_EQ(l.files[0].size, 3);
  EXPECT_EQ(l.files[1].size, 99);  // the LFS object's size, not the pointer's
  EXPECT_EQ(l.files[1].lfs_sha256, std::string(64, 'a'));
  for (const std::string& bad :
       {"{" + sha + ",\"siblings\":[{\"rfilename\":\"a\"},{\"rfilename\":\"a\"}]}",
        "{" + sha + ",\"siblings\":[{\"rfilename\":\"a\",\"size\":-1}]}",
        "{" + sha + ",\"siblings\":[{\"rfilename\":\"a\",\"lfs\":{\"sha256\":\"xyz\"}}]}",
        "{" + sha + ",\"siblings\":[{\"rfilename\":7}]}", "{" + sha + ",\"siblings\":{}}",
        std::string("{\"sha\":\"") + std::string(40, 'G') + "\",\"siblings\":[]}", std::string("\0", 1)}) {
    const std::string e = test::error_of([&] { parse_hf_repo_listing(bad, "listing"); });
    EXPECT_NE(e.find("listing is not a repository listing ("), std::string::npos) << bad << ": " << e;
    EXPECT_EQ(e.find('\n'), std::string::npos);
  }
}

TEST(HfPull, Cli) {
  FakeHub hub;
  const fs::path dir = test::temp_dir("hf_pull_cli");
  const test::CmdResult r =
      test::run_i2i({"pull", "fixtures/tiny-sd15", "--endpoint", hub.endpoint(), "--cache-dir",
                     (dir / "hub").string(), "--exclude", "text_encoder/*"},
                    dir);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("fixtures/tiny-sd15@" + kCommit + ": "), std::string::npos) << r.out;
  EXPECT_TRUE(fs::exists(dir / "hub" / "models--fixtures--tiny-sd15" / "snapshots" / kCommit / "unet" /
                         "config.json"));
  EXPECT_FALSE(
      fs::exists(dir / "hub" / "models--fixtures--tiny-sd15" / "snapshots" / kCommit / "text_encoder"));
  const test::CmdResult bad = test::run_i2i({"pull", "not a repo"}, dir);
  EXPECT_EQ(bad.status, 1);
  EXPECT_NE(bad.err.find("is not a repository name"), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace i2i

namespace i2i {
namespace {

// ---- the lock between two pulls, and the disk-space check ----

// Holds the lock a pull of `path` takes (as another process would), writing `holder` into it.
class HeldLock {
 public:
  HeldLock(const fs::path& lock_file, const std::string& holder) {
    fs::create_directories(lock_file.parent_path());
    fd_ = ::open(lock_file.c_str(), O_RDWR | O_CREAT, 0644);
    EXPECT_GE(fd_, 0);
    EXPECT_EQ(::flock(fd_, LOCK_EX | LOCK_NB), 0);
    EXPECT_EQ(::write(fd_, holder.data(), holder.size()), static_cast<ssize_t>(holder.size()));
  }
  ~HeldLock() { release(); }
  void release() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

TEST(HfPull, ASecondPullWaitsForTheFilesLockOrSaysWhoHoldsIt) {
  FakeHub hub;
  const fs::path cache = test::temp_dir("hf_pull_lock") / "hub";
  const std::string file = "unet/diffusion_pytorch_model.safetensors";
  const RepoFile& f = hub.files_.at(file);
  // huggingface_hub's lock file for that blob (the LFS file's etag is its SHA-256).
  const fs::path lock_file = cache / ".locks" / "models--fixtures--tiny-sd15" / (f.sha256 + ".lock");
  HeldLock held(lock_file, "pid 4242 (another pull)\n");

  HfPullOptions o = options(hub, cache);
  o.files = {file};
  o.lock_timeout_s = 0;
  const std::string e = test::error_of([&] { hf_pull(o); });
  EXPECT_NE(e.find(file + " is being downloaded by pid 4242 (another pull) (lock " + lock_file.string()),
            std::string::npos)
      << e;
  EXPECT_EQ(e.find('\n'), std::string::npos);
  EXPECT_EQ(hub.cdn_requests, 0);  // nothing fetched while another process holds it

  // Waiting: told once who holds it; the pull goes on when the holder is done.
  o.lock_timeout_s = -1;
  std::vector<std::string> waits;
  o.on_wait = [&](const std::string& m) {
    waits.push_back(m);
    held.release();
  };
  const HfPullResult r = hf_pull(o);
  ASSERT_EQ(waits.size(), 1u);
  EXPECT_NE(waits[0].find("pid 4242 (another pull)"), std::string::npos) << waits[0];
  EXPECT_NE(waits[0].find("waiting"), std::string::npos) << waits[0];
  EXPECT_EQ(read_all(r.snapshot / file), f.bytes);
  // The lock is free again (and says nobody holds it).
  HeldLock again(lock_file, "x");
}

TEST(HfPull, ABlobAnotherPullPlacedWhileThisOneWaitedIsNotFetchedAgain) {
  FakeHub hub;
  const fs::path cache = test::temp_dir("hf_pull_lock_placed") / "hub";
  const std::string file = "vae/diffusion_pytorch_model.safetensors";
  const RepoFile& f = hub.files_.at(file);
  const fs::path blobs = cache / "models--fixtures--tiny-sd15" / "blobs";
  HeldLock held(cache / ".locks" / "models--fixtures--tiny-sd15" / (f.sha256 + ".lock"), "pid 1\n");
  HfPullOptions o = options(hub, cache);
  o.files = {file};
  o.on_wait = [&](const std::string&) {
    // The holder finishes: its blob is there, then it lets go.
    fs::create_directories(blobs);
    std::ofstream(blobs / f.sha256, std::ios::binary) << f.bytes;
    held.release();
  };
  const HfPullResult r = hf_pull(o);
  EXPECT_EQ(read_all(r.snapshot / file), f.bytes);
  EXPECT_EQ(hub.cdn_requests, 0);
}

TEST(HfPull, AFileTheDiskHasNoRoomForIsNotStarted) {
  FakeHub hub;
  const fs::path cache = test::temp_dir("hf_pull_disk") / "hub";
  const std::string file = "unet/diffusion_pytorch_model.safetensors";
  const int64_t size = static_cast<int64_t>(hub.files_.at(file).bytes.size());
  HfPullOptions o = options(hub, cache);
  o.files = {file};
  std::vector<fs::path> asked;
  o.free_bytes = [&](const fs::path& folder) {
    asked.push_back(folder);
    return int64_t{1000};
  };
  const std::string e = test::error_of([&] { hf_pull(o); });
  const fs::path blobs = cache / "models--fixtures--tiny-sd15" / "blobs";
  EXPECT_NE(e.find(file + " needs " + std::to_string(size) + " bytes"), std::string::npos) << e;
  EXPECT_NE(e.find("in " + blobs.string() + ", only 1000 bytes (0 MiB) are free"), std::string::npos) << e;
  EXPECT_EQ(e.find('\n'), std::string::npos);
  ASSERT_EQ(asked.size(), 1u);
  EXPECT_EQ(asked[0], blobs);
  EXPECT_EQ(hub.cdn_requests, 0);
  for (const auto& entry : fs::recursive_directory_iterator(blobs)) ADD_FAILURE() << entry.path();

  // A partial download only needs the rest.
  const std::string& bytes = hub.files_.at(file).bytes;
  std::ofstream(blobs / (hub.files_.at(file).sha256 + ".incomplete"), std::ios::binary)
      << bytes.substr(0, bytes.size() - 900);
  const HfPullResult r = hf_pull(o);
  EXPECT_EQ(read_all(r.snapshot / file), bytes);

  // The real free space (statvfs) of the test's file system is checked too: enough here.
  HfPullOptions real = options(hub, cache);
  real.files = {"unet/config.json"};
  EXPECT_EQ(hf_pull(real).downloaded.size(), 1u);
}

// ---- i2i pull tokenizer: a case of the hub pull ----

PullTokenizerOptions tokenizer_options(const FakeHub& hub, const fs::path& dir) {
  PullTokenizerOptions o;
  o.dest = dir / "clip";
  o.cache = dir / "hub";
  o.endpoint = hub.endpoint();
  o.connect_timeout_s = 5;
  o.stall_timeout_s = 10;
  return o;
}

fs::path tokenizer_snapshot(const fs::path& dir) {
  return dir / "hub" / "models--openai--clip-vit-large-patch14" / "snapshots" / kCommit;
}

TEST(PullTokenizer, PullsIntoTheHubCacheAndCopiesToTheTokenizerFolder) {
  FakeHub hub;
  const fs::path dir = test::temp_dir("pull_tokenizer");
  std::vector<HfPullProgress> seen;
  PullTokenizerOptions o = tokenizer_options(hub, dir);
  o.progress = [&](const HfPullProgress& p) { seen.push_back(p); };
  const PullResult r = pull_tokenizer(o);
  EXPECT_TRUE(r.downloaded);
  EXPECT_EQ(r.dir, dir / "clip");
  for (const char* file : {"vocab.json", "merges.txt"}) {
    EXPECT_EQ(read_all(dir / "clip" / file), hub.tokenizer_files_.at(file).bytes) << file;
    EXPECT_FALSE(fs::is_symlink(dir / "clip" / file)) << file;  // a copy: the cache may be cleaned
    EXPECT_TRUE(fs::is_symlink(tokenizer_snapshot(dir) / file)) << file;
  }
  // Progress as for any pull: two files, each finishing once.
  int finished = 0;
  for (const HfPullProgress& p : seen) {
    EXPECT_EQ(p.count, 2);
    finished += p.finished;
  }
  EXPECT_EQ(finished, 2);
  for (const auto& e : fs::directory_iterator(dir / "clip"))
    EXPECT_TRUE(e.path().filename() == "vocab.json" || e.path().filename() == "merges.txt") << e.path();

  // A valid copy is kept; --force fetches it again.
  const int before = hub.cdn_requests;
  EXPECT_FALSE(pull_tokenizer(tokenizer_options(hub, dir)).downloaded);
  EXPECT_EQ(hub.cdn_requests, before);
  o.force = true;
  EXPECT_TRUE(pull_tokenizer(o).downloaded);
  EXPECT_EQ(hub.cdn_requests, before + 1);  // vocab.json from the CDN again

  // HF_ENDPOINT is the endpoint when none is given (I2I_HF_ENDPOINT, the old name, after it).
  const fs::path dir2 = test::temp_dir("pull_tokenizer_env");
  PullTokenizerOptions env = tokenizer_options(hub, dir2);
  env.endpoint.clear();
  ::setenv("HF_ENDPOINT", (hub.endpoint() + "/").c_str(), 1);
  EXPECT_TRUE(pull_tokenizer(env).downloaded);
  ::unsetenv("HF_ENDPOINT");
  EXPECT_EQ(read_all(dir2 / "clip" / "merges.txt"), hub.tokenizer_files_.at("merges.txt").bytes);
}

TEST(PullTokenizer, ResumesAfterADisconnect) {
  FakeHub hub;
  hub.disconnect_file = "vocab.json";
  const fs::path dir = test::temp_dir("pull_tokenizer_resume");
  PullTokenizerOptions o = tokenizer_options(hub, dir);
  o.max_attempts = 1;
  const std::string e = test::error_of([&] { pull_tokenizer(o); });
  EXPECT_NE(e.find("vocab.json failed after 1 attempt"), std::string::npos) << e;
  EXPECT_NE(e.find("run again to resume"), std::string::npos) << e;
  EXPECT_FALSE(fs::exists(dir / "clip" / "vocab.json"));
  const size_t half = hub.tokenizer_files_.at("vocab.json").bytes.size() / 2;
  const PullResult r = pull_tokenizer(o);
  EXPECT_TRUE(r.downloaded);
  EXPECT_EQ(read_all(dir / "clip" / "vocab.json"), hub.tokenizer_files_.at("vocab.json").bytes);
  ASSERT_EQ(hub.ranges.size(), 1u);
  EXPECT_EQ(hub.ranges[0], "vocab.json bytes=" + std::to_string(half) + "-");
}

TEST(PullTokenizer, AWrongSizeHashOrContentIsDeletedAndNothingPlaced) {
  const auto nothing_placed = [](const fs::path& dir) {
    EXPECT_FALSE(fs::exists(dir / "clip" / "vocab.json"));
    EXPECT_FALSE(fs::exists(dir / "clip" / "merges.txt"));
    EXPECT_FALSE(fs::exists(tokenizer_snapshot(dir) / "vocab.json"));
  };
  {
    FakeHub hub;
    hub.wrong_size_file = "vocab.json";
    const fs::path dir = test::temp_dir("pull_tokenizer_size");
    const std::string e = test::error_of([&] { pull_tokenizer(tokenizer_options(hub, dir)); });
    EXPECT_NE(e.find("vocab.json has " + std::to_string(hub.tokenizer_files_.at("vocab.json").bytes.size()) +
                     " bytes, not the"),
              std::string::npos)
        << e;
    EXPECT_NE(e.find("announced; deleted"), std::string::npos) << e;
    nothing_placed(dir);
  }
  {
    FakeHub hub;
    hub.corrupt_file = "vocab.json";
    const fs::path dir = test::temp_dir("pull_tokenizer_hash");
    const std::string e = test::error_of([&] { pull_tokenizer(tokenizer_options(hub, dir)); });
    EXPECT_NE(e.find("vocab.json has SHA-256 "), std::string::npos) << e;
    EXPECT_NE(e.find("of its LFS metadata; deleted"), std::string::npos) << e;
    nothing_placed(dir);
  }
  {
    // Whole and as announced, but not CLIP's vocabulary: the check deletes what was pulled.
    FakeHub hub;
    hub.set_tokenizer_file("vocab.json", "{\"a\": 0, \"<|startoftext|>\": 1, \"<|endoftext|>\": 2}", true);
    const fs::path dir = test::temp_dir("pull_tokenizer_content");
    const std::string e = test::error_of([&] { pull_tokenizer(tokenizer_options(hub, dir)); });
    EXPECT_NE(e.find("failed validation and was deleted"), std::string::npos) << e;
    EXPECT_EQ(e.find('\n'), std::string::npos);
    nothing_placed(dir);
    EXPECT_FALSE(fs::exists(tokenizer_snapshot(dir) / "merges.txt"));
  }
}

TEST(PullTokenizer, AGatedEndpointNeedsHfToken) {
  FakeHub hub;
  hub.gate_tokenizer = true;
  const fs::path dir = test::temp_dir("pull_tokenizer_401");
  ::unsetenv("HF_TOKEN");
  ::unsetenv("HUGGING_FACE_HUB_TOKEN");
  const std::string e = test::error_of([&] { pull_tokenizer(tokenizer_options(hub, dir)); });
  EXPECT_NE(e.find("HTTP 401"), std::string::npos) << e;
  EXPECT_NE(e.find("set HF_TOKEN"), std::string::npos) << e;
  EXPECT_FALSE(fs::exists(dir / "clip" / "vocab.json"));
  ::setenv("HF_TOKEN", "secret", 1);
  const PullResult r = pull_tokenizer(tokenizer_options(hub, dir));
  ::unsetenv("HF_TOKEN");
  EXPECT_TRUE(r.downloaded);
  EXPECT_EQ(read_all(dir / "clip" / "vocab.json"), hub.tokenizer_files_.at("vocab.json").bytes);
}

TEST(PullTokenizer, Cli) {
  FakeHub hub;
  const fs::path dir = test::temp_dir("pull_tokenizer_cli");
  const std::vector<std::string> args = {"pull",       "tokenizer",    "--dest",      (dir / "clip").string(),
                                         "--endpoint", hub.endpoint(), "--cache-dir", (dir / "hub").string()};
  test::CmdResult r = test::run_i2i(args, dir);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "downloaded tokenizer in " + (dir / "clip").string() + "\n");
  EXPECT_EQ(read_all(dir / "clip" / "merges.txt"), hub.tokenizer_files_.at("merges.txt").bytes);
  r = test::run_i2i(args, dir);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "already have the tokenizer in " + (dir / "clip").string() + "\n");
  hub.gate_tokenizer = true;
  r = test::run_i2i({"pull", "tokenizer", "--dest", (dir / "other").string(), "--endpoint", hub.endpoint(),
                     "--cache-dir", (dir / "hub2").string()},
                    dir);
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("HTTP 401"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir / "other" / "vocab.json"));
}

}  // namespace
}  // namespace i2i
