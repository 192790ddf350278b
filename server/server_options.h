// What `i2i serve` is started with (cli/cmd_serve.cpp turns the flags into this; tests fill it directly).
// Flag names follow AUTOMATIC1111's launch options where it has them (--listen, --port, --api-auth,
// --cors-allow-origins).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "pipelines/sd_model.h"

namespace i2i::server {

struct ServerOptions {
  std::string model;       // the checkpoint loaded at start (a path, or a name under models_dir)
  std::string models_dir;  // A1111-layout models folder ("" = models_folder()'s default)
  SdModelOptions model_options;
  std::string host = "127.0.0.1";  // --listen: 0.0.0.0
  int port = 7860;                 // 0: any free port (printed)
  // --api-auth USER:PASS[,USER:PASS...]: HTTP Basic credentials every request must carry (empty: none).
  std::vector<std::pair<std::string, std::string>> credentials;
  std::vector<std::string> cors_origins;      // origins allowed cross-origin requests ("*": any)
  size_t queue_size = 16;                     // jobs waiting (not counting the running one) before 429
  int64_t max_pixels = int64_t{2048} * 2048;  // largest width x height generated or decoded
  size_t max_body_bytes = size_t{64} << 20;   // larger request bodies answer 413
  size_t finished_jobs_kept = 64;             // finished async jobs kept for GET /i2i/v1/jobs/{id}
  int http_threads = 256;                     // connections served at once (threads started as needed)
};

// "user:pass,user2:pass2" -> pairs; throws i2i::Error for an entry without ':' or an empty user.
std::vector<std::pair<std::string, std::string>> parse_credentials(const std::string& list);
// "a,b" -> {"a", "b"} (blank entries dropped).
std::vector<std::string> split_list(const std::string& list);

}  // namespace i2i::server
