// `i2i pull org/name` (io/hf_pull.h) against a local server that speaks the hub's protocol (cpp-httplib on
// 127.0.0.1, an ephemeral port, in a thread): the API listing, resolve URLs with ETag / X-Linked-Etag /
// X-Repo-Commit / X-Linked-Size and redirects of LFS files to a "CDN", range requests. It serves the
// fixtures' tiny-sd15 diffusers folder as the repository fixtures/tiny-sd15 (plus a root-level single file
// and an fp16 variant) and covers: a full pull laid out as huggingface_hub lays it out, one FILE, a
// disconnect in mid-file and its resume with Range (in the next call and within one), a wrong checksum,
// a gated repository (401 without HF_TOKEN), an unreachable endpoint, hostile listings, and the CLI.
// Never contacts the internet.
#include "io/hf_pull.h"

#include <gtest/gtest.h>
#include <httplib.h>

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

  std::map<std::string, RepoFile> files_;
  int cdn_requests = 0;

 private:
  void add(const std::string& path, const std::string& bytes) {
    RepoFile f;
    f.bytes = bytes;
    f.lfs = path.size() > 12 && path.substr(path.size() - 12) == ".safetensors";
    f.sha256 = sha256_hex(bytes);
    files_[path] = f;
  }

  bool authorised(const httplib::Request& req, const std::string& repo, httplib::Response& res) {
    if (repo != "fixtures/gated" || req.get_header_value("Authorization") == "Bearer secret") return true;
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
    server_.Get(R"(/([^/]+/[^/]+)/resolve/([^/]+)/(.+))",
                [this](const httplib::Request& req, httplib::Response& res) {
                  const std::string repo = req.matches[1], revision = req.matches[2], path = req.matches[3];
                  if (!authorised(req, repo, res)) return;
                  const auto it = files_.find(path);
                  if (it == files_.end() || (revision != "main" && revision != kCommit)) {
                    res.status = 404;
                    res.set_header("X-Error-Code", "EntryNotFound");
                    return;
                  }
                  res.set_header("X-Repo-Commit", kCommit);
                  if (it->second.lfs) {  // as the hub: a redirect to the CDN carrying the LFS metadata
                    res.status = 302;
                    res.set_header("Location", endpoint() + "/cdn/" + it->second.sha256 + "?file=" + path);
                    res.set_header("X-Linked-Etag", "\"" + it->second.sha256 + "\"");
                    res.set_header("X-Linked-Size", std::to_string(it->second.bytes.size()));
                    res.set_header("ETag", "\"0123456789abcdef0123456789abcdef01234567\"");
                    return;
                  }
                  res.set_header("ETag", "W/\"" + it->second.sha256.substr(0, 40) + "\"");
                  res.set_content(it->second.bytes, "application/octet-stream");
                });
    server_.Get(R"(/cdn/([0-9a-f]{64}))", [this](const httplib::Request& req, httplib::Response& res) {
      const std::string path = req.get_param_value("file");
      const auto it = files_.find(path);
      if (it == files_.end()) {
        res.status = 404;
        return;
      }
      std::string bytes = it->second.bytes;
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
