#include "server/server.h"

#include <httplib.h>
#include <signal.h>

#include <cstdio>
#include <thread>

#include "core/error.h"
#include "models/models_folder.h"
#include "server/routes.h"

namespace i2i::server {
namespace fs = std::filesystem;

namespace {

// --model as a path, or as a checkpoint name in the models folder.
fs::path startup_model(const ServerOptions& o, const fs::path& models_dir) {
  std::error_code ec;
  if (o.model.empty()) throw Error("--model is required (a .safetensors checkpoint or a diffusers folder)");
  if (fs::exists(o.model, ec)) return fs::absolute(o.model, ec);
  ModelCatalog catalog(models_dir, {});
  if (auto found = catalog.find_checkpoint(o.model)) return found->path;
  throw Error("--model " + o.model + ": no such file, and no checkpoint of that name in " +
              (models_dir / "Stable-diffusion").string());
}

}  // namespace

struct Server::Impl {
  fs::path models_dir;
  fs::path model;
  std::unique_ptr<JobQueue> queue;
  std::unique_ptr<ServerContext> context;
  httplib::Server http;
};

Server::Server(const ServerOptions& options) : impl_(std::make_unique<Impl>()) {
  impl_->models_dir = models_folder(options.models_dir);
  impl_->model = startup_model(options, impl_->models_dir);
  impl_->queue = std::make_unique<JobQueue>(impl_->model, options, impl_->models_dir);
  impl_->context.reset(
      new ServerContext{options, ModelCatalog(impl_->models_dir, impl_->model), *impl_->queue});
  const int threads = std::max(options.http_threads, 2);
  impl_->http.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  impl_->http.set_payload_max_length(options.max_body_bytes);
  impl_->http.set_read_timeout(30);
  impl_->http.set_write_timeout(30);
  add_routes(impl_->http, *impl_->context);
}

Server::~Server() {
  stop();
}

int Server::bind() {
  const ServerOptions& o = impl_->context->options;
  int port = o.port;
  if (port == 0) {
    port = impl_->http.bind_to_any_port(o.host);
    if (port < 0) throw Error("cannot listen on " + o.host + " (any port)");
  } else if (!impl_->http.bind_to_port(o.host, port)) {
    throw Error("cannot listen on " + o.host + ":" + std::to_string(port) + " (in use, or not allowed)");
  }
  return port;
}

void Server::listen() {
  impl_->http.listen_after_bind();
}

void Server::stop() {
  if (!impl_) return;
  impl_->queue->shutdown();  // waiting requests are answered (503) before the listener goes
  impl_->http.stop();
}

int serve(const ServerOptions& options) {
  // SIGINT / SIGTERM are taken by one thread with sigwait (blocked in every thread, set before any starts).
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  Server server(options);
  const int port = server.bind();
  std::printf("i2i serve: listening on http://%s:%d\n", options.host.c_str(), port);
  std::fflush(stdout);
  std::thread waiter([&server, signals] {
    int sig = 0;
    sigwait(&signals, &sig);
    std::fprintf(stderr, "i2i serve: %s, stopping\n", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    server.stop();
  });
  server.listen();
  // listen() also returns when the listener fails; the waiter is then woken by a signal of our own.
  pthread_kill(waiter.native_handle(), SIGTERM);
  waiter.join();
  return 0;
}

}  // namespace i2i::server
