// `i2i serve`: an AUTOMATIC1111-compatible HTTP API (and the web page) over one model kept loaded, with a
// job queue. Server is the in-process object (tests start one on port 0); serve() is the command's main
// loop with its startup line and signal handling.
//
//   ServerOptions o; o.model = "v1-5-pruned-emaonly.safetensors"; o.port = 0;
//   Server s(o);                       // loads the model
//   int port = s.bind();               // the bound port
//   std::thread t([&] { s.listen(); });  ...  s.stop(); t.join();
#pragma once

#include <memory>

#include "server/server_options.h"

namespace i2i::server {

class Server {
 public:
  // Loads the model (throws i2i::Error when it cannot be found or loaded).
  explicit Server(const ServerOptions& options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds options.host:options.port (0: a free port); returns the port. Throws i2i::Error.
  int bind();
  // Serves until stop(); returns then.
  void listen();
  // Cancels the running and queued jobs (their requests answer 503) and stops listening. Thread-safe.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Runs the server until SIGINT or SIGTERM; prints "i2i serve: listening on http://HOST:PORT" on stdout
// first. Returns the exit status.
int serve(const ServerOptions& options);

}  // namespace i2i::server
