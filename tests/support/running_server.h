// `i2i serve` in-process for the server's tests: a models folder in A1111's layout linked to the tiny
// fixture models, the server's options on it, and a server on a free port that stops with its scope.
// Header-only: only the tests that link i2i_server include it.
#pragma once

#include <gtest/gtest.h>
#include <httplib.h>

#include <filesystem>
#include <memory>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "server/server.h"
#include "support/fixtures.h"

namespace i2i::test {

// A temp folder `name` holding the fixture checkpoint (Stable-diffusion/), ControlNet (ControlNet/), LoRA
// (Lora/), IP-Adapter (ipadapter/, its image_encoder/ beside it) and annotators (annotators/, by the
// extension's file names) in A1111's layout, with the tiny models'
// .json configurations beside them.
inline std::filesystem::path a1111_models_dir(const std::string& name) {
  namespace fs = std::filesystem;
  const fs::path d = temp_dir(name);
  std::error_code ec;
  auto link = [&](const std::string& fixture, const fs::path& to) {
    fs::create_directories(to.parent_path());
    fs::create_symlink(fixture_path(fixture), to, ec);
  };
  for (const char* f : {"tiny-sd15.safetensors", "tiny-sd15.json"})
    link(std::string("models/") + f, d / "Stable-diffusion" / f);
  for (const char* f : {"tiny-controlnet-sd15.safetensors", "tiny-controlnet-sd15.json"})
    link(std::string("models/") + f, d / "ControlNet" / f);
  link("models/loras/tiny-style.safetensors", d / "Lora/tiny-style.safetensors");
  // The IP-Adapter with its image encoder beside it (where the CLI looks for it).
  link("models/tiny-ip-adapter/models/ip-adapter_sd15.safetensors",
       d / "ipadapter/ip-adapter_sd15.safetensors");
  link("models/tiny-ip-adapter/models/image_encoder", d / "ipadapter/image_encoder");
  // The annotators under the file names A1111's ControlNet extension gives them.
  for (const auto& [fixture, name] : std::vector<std::pair<std::string, std::string>>{
           {"tiny-depth-anything-v2.safetensors", "depth_anything_v2_vits.safetensors"},
           {"tiny-depth-anything-v2.json", "depth_anything_v2_vits.json"},
           {"tiny-openpose-body.safetensors", "body_pose_model.safetensors"},
           {"tiny-lineart.safetensors", "sk_model.safetensors"},
           {"tiny-lineart-coarse.safetensors", "sk_model2.safetensors"},
           {"tiny-hed.safetensors", "ControlNetHED.safetensors"}})
    link("models/annotators/" + fixture, d / "annotators" / name);
  return d;
}

// The options of a server on a free port serving the tiny SD 1.5 model of `models`.
inline server::ServerOptions test_server_options(const std::filesystem::path& models) {
  server::ServerOptions o;
  o.model = (models / "Stable-diffusion/tiny-sd15.safetensors").string();
  o.models_dir = models.string();
  o.model_options.tokenizer = fixture_path("tokenizer");
  o.port = 0;
  return o;
}

// An in-process server on a free port, stopped at the end of the scope.
class RunningServer {
 public:
  explicit RunningServer(const server::ServerOptions& o, int read_timeout_s = 300) : server_(o) {
    read_timeout_s_ = read_timeout_s;
    port_ = server_.bind();
    thread_ = std::thread([this] { server_.listen(); });
  }
  ~RunningServer() {
    server_.stop();
    thread_.join();
  }
  int port() const { return port_; }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(read_timeout_s_);
    c.set_write_timeout(60);
    return c;
  }

 private:
  server::Server server_;
  int port_ = 0;
  int read_timeout_s_ = 300;
  std::thread thread_;
};

// One server shared by the tests of a program: made with `options` on first use, and stopped (its running
// job cancelled, its threads joined) when the tests end, before main returns. A shared server left running
// at exit raced the process's cleanup: a job still hashing a model in libcrypto while libcrypto's atexit
// handler freed its tables crashed the test program after every test had passed (12 runs in 20).
inline RunningServer& shared_running_server(const server::ServerOptions& options, int read_timeout_s = 300) {
  struct Slot : ::testing::Environment {
    std::unique_ptr<RunningServer> server;
    void TearDown() override { server.reset(); }
  };
  static Slot* const slot = [] {
    auto* s = new Slot;
    ::testing::AddGlobalTestEnvironment(s);  // gtest owns it and calls TearDown after the last test
    return s;
  }();
  if (!slot->server) slot->server = std::make_unique<RunningServer>(options, read_timeout_s);
  return *slot->server;
}

}  // namespace i2i::test
