#include "server/server.h"

#include <httplib.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

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

// The connection threads: started when a connection finds none free, up to `max` (then connections wait,
// as in httplib's fixed pool). Each connection holds a thread while it lives - a slow client, an idle
// keep-alive, an event stream or a sync request waiting for its job - so a handful of them must not
// leave /progress and /interrupt without one.
class ConnectionThreads : public httplib::TaskQueue {
 public:
  explicit ConnectionThreads(size_t max) : max_(max) {}
  ~ConnectionThreads() override { shutdown(); }

  void enqueue(std::function<void()> fn) override {
    std::lock_guard<std::mutex> lock(mutex_);
    tasks_.push_back(std::move(fn));
    if (tasks_.size() > idle_ && threads_.size() < max_) threads_.emplace_back([this] { work(); });
    ready_.notify_one();
  }
  void shutdown() override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stopping_ && threads_.empty()) return;
      stopping_ = true;
    }
    ready_.notify_all();
    for (std::thread& t : threads_) t.join();
    threads_.clear();
  }

 private:
  void work() {
    for (;;) {
      std::function<void()> task;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        ++idle_;
        ready_.wait(lock, [this] { return stopping_ || !tasks_.empty(); });
        --idle_;
        if (tasks_.empty()) return;  // stopping, nothing left
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
      task();
    }
  }

  const size_t max_;
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::function<void()>> tasks_;
  std::vector<std::thread> threads_;
  size_t idle_ = 0;
  bool stopping_ = false;
};

}  // namespace

struct Server::Impl {
  fs::path models_dir;
  fs::path model;
  std::unique_ptr<JobQueue> queue;
  std::unique_ptr<ServerContext> context;
  httplib::Server http;
};

Server::Server(const ServerOptions& options) : impl_(std::make_unique<Impl>()) {
  if (options.queue_size == 0)
    throw Error("--queue-size must be at least 1 (jobs waiting besides the running one)");
  impl_->models_dir = models_folder(options.models_dir);
  impl_->model = startup_model(options, impl_->models_dir);
  impl_->queue = std::make_unique<JobQueue>(impl_->model, options, impl_->models_dir);
  impl_->context.reset(
      new ServerContext{options, ModelCatalog(impl_->models_dir, impl_->model), *impl_->queue});
  impl_->context->local_only = options.credentials.empty() && options.host != "0.0.0.0" &&
                               options.host != "::" && options.host != "[::]";
  const int threads = std::max(options.http_threads, 2);
  impl_->http.new_task_queue = [threads] { return new ConnectionThreads(static_cast<size_t>(threads)); };
  impl_->http.set_payload_max_length(options.max_body_bytes);
  // A client silent for this long between two reads loses its connection (and its thread); an idle
  // keep-alive connection is closed after 2 s.
  impl_->http.set_read_timeout(10);
  impl_->http.set_write_timeout(30);
  impl_->http.set_keep_alive_timeout(2);
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
  std::atomic<bool> listened{false};
  std::thread waiter([&server, &listened, signals] {
    int sig = 0;
    sigwait(&signals, &sig);
    if (listened) return;
    std::fprintf(stderr, "i2i serve: %s, stopping\n", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    server.stop();  // the jobs are answered (503) and the listener closed
    // Connections still open (an idle keep-alive, a client trickling its headers) would hold listen()
    // until they go: they are given a moment to write their answers, then the process ends without them.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(1500);
    while (!listened && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (!listened) {
      std::fprintf(stderr, "i2i serve: closing the connections still open\n");
      std::fflush(stdout);
      std::fflush(stderr);
      _exit(0);
    }
  });
  server.listen();
  listened = true;
  // listen() also returns when the listener fails; the waiter is then woken by a signal of our own.
  pthread_kill(waiter.native_handle(), SIGTERM);
  waiter.join();
  return 0;
}

}  // namespace i2i::server
