// The HTTP routes of `i2i serve` on a cpp-httplib server: A1111's /sdapi/v1 API, the ControlNet
// extension's /controlnet/ lists, the native asynchronous /i2i/v1/jobs API, and the page's static files;
// plus the checks every request passes first (Basic credentials, CORS).
#pragma once

#include <httplib.h>

#include <atomic>

#include "server/job_queue.h"
#include "server/json_body.h"
#include "server/model_catalog.h"
#include "server/server_options.h"

namespace i2i::server {

struct ServerContext {
  ServerOptions options;
  ModelCatalog catalog;
  JobQueue& queue;
  // Reachable only from this machine and without credentials (no --listen, no --api-auth): POSTs must come
  // from the server's own page or a --cors-allow-origins one, with JSON bodies as application/json.
  bool local_only = false;
  std::atomic<int> event_streams{0};  // GET /i2i/v1/jobs/{id}/events streams open
};

// Event streams open at once (more answer 429).
inline constexpr int kMaxEventStreams = 8;

void add_routes(httplib::Server& http, ServerContext& context);

// Whether `authorization` (an Authorization header) carries one of `credentials` (HTTP Basic), compared
// in time that does not depend on where the given and the expected text differ.
bool authorized(const std::string& authorization,
                const std::vector<std::pair<std::string, std::string>>& credentials);

}  // namespace i2i::server
