#include "server/routes.h"

#include <algorithm>
#include <cctype>

#include "io/file_hash.h"
#include "io/image.h"
#include "io/image_limits.h"
#include "io/parameters.h"
#include "models/model_hash.h"
#include "sampling/scheduler.h"
#include "server/a1111_response.h"
#include "server/base64.h"
#include "server/client_socket.h"
#include "server/error_paths.h"
#include "server/http_error.h"
#include "server/json_body.h"
#include "server/web_assets.h"
#include "server/zip_writer.h"

namespace i2i::server {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

void send_json(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
}

// Runs a handler, answering its HttpError (or any other exception, as A1111's 500) as JSON that names no
// path of the server's machine.
template <typename F>
httplib::Server::Handler guarded(F f) {
  return [f](const httplib::Request& req, httplib::Response& res) {
    try {
      f(req, res);
    } catch (const HttpError& e) {
      send_json(res, e.status(), json_without_server_paths(e.body()));
    } catch (const std::exception& e) {
      send_json(res, 500,
                json_without_server_paths(
                    {{"error", "RuntimeError"}, {"detail", ""}, {"body", ""}, {"errors", e.what()}}));
    }
  };
}

// The request limits of this server: --max-pixels, and the models folder prompt LoRAs are looked up in.
RequestLimits request_limits(const ServerContext& ctx) {
  return {ctx.options.max_pixels, ctx.catalog.models_dir().string()};
}

// A request body read under --max-body-mb whatever its framing: httplib checks a Content-Length against
// the limit itself, but reads a chunked body whole (probe13 H0).
struct Body {
  std::string text;
  httplib::MultipartFormDataMap files;  // multipart/form-data: the parts
};

// An answer that leaves part of the request body unread: the connection cannot be reused.
void close_after(httplib::Response& res) {
  res.set_header("Connection", "close");
}

template <typename F>
httplib::Server::HandlerWithContentReader with_body(const ServerContext& ctx, F f) {
  const size_t max_bytes = ctx.options.max_body_bytes;
  return [max_bytes, f](const httplib::Request& req, httplib::Response& res,
                        const httplib::ContentReader& reader) {
    Body body;
    size_t total = 0;
    bool too_large = false;
    // Past the limit the rest is read and dropped (as httplib skips a too long Content-Length body), so that
    // the client gets its 413; a client that goes on much further loses the connection.
    auto count = [&](size_t n) {
      total += n;
      too_large = total > max_bytes;
      return total <= max_bytes + (size_t{64} << 20);
    };
    bool read = false;
    if (req.is_multipart_form_data()) {
      auto part = body.files.end();
      read = reader(
          [&](const httplib::MultipartFormData& header) {
            part = body.files.emplace(header.name, header);
            return true;
          },
          [&](const char* data, size_t n) {
            if (!count(n) || part == body.files.end()) return false;
            if (!too_large) part->second.content.append(data, n);
            return true;
          });
    } else {
      read = reader([&](const char* data, size_t n) {
        if (!count(n)) return false;
        if (!too_large) body.text.append(data, n);
        return true;
      });
    }
    if (!read || too_large) {
      close_after(res);
      if (too_large || res.status == 413)
        return send_json(res, 413, {{"detail", "the request body is too large"}});
      return send_json(res, res.status >= 400 ? res.status : 400,
                       {{"detail", "the request body is malformed"}});
    }
    guarded([&](const httplib::Request& r, httplib::Response& out) { f(r, body, out); })(req, res);
  };
}

// On a server only this machine can reach without credentials (no --listen, no --api-auth), a web page the
// user visits must not be able to drive it: JSON bodies only as application/json (which browsers
// preflight cross-origin), refused otherwise (415).
void require_json_type(const ServerContext& ctx, const httplib::Request& req) {
  if (!ctx.local_only) return;
  std::string type = req.get_header_value("Content-Type");
  type = type.substr(0, type.find(';'));
  std::transform(type.begin(), type.end(), type.begin(), [](unsigned char c) { return std::tolower(c); });
  while (!type.empty() && type.back() == ' ') type.pop_back();
  if (type != "application/json")
    throw HttpError(415, {{"detail", "the body must be sent as Content-Type: application/json"}},
                    "unsupported Content-Type");
}

// Host without its port ("[::1]:7860" -> "[::1]", "localhost:7860" -> "localhost").
std::string host_name(const std::string& host) {
  if (!host.empty() && host.front() == '[') return host.substr(0, host.find(']') + 1);
  return host.substr(0, host.find(':'));
}

bool wildcard_address(const std::string& host) {
  return host == "0.0.0.0" || host == "::" || host == "[::]";
}

bool constant_time_equal(const std::string& a, const std::string& b) {
  // Every byte of the longer text is looked at whatever the contents.
  const size_t n = std::max(a.size(), b.size());
  unsigned diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= x ^ y;
  }
  return diff == 0;
}

std::vector<std::string> sampler_list() {
  return sampler_names();
}

// A1111 1.10's schedulers (modules/sd_schedulers.py) that i2i has.
json scheduler_list() {
  return json::array({
      {{"name", "automatic"},
       {"label", "Automatic"},
       {"aliases", nullptr},
       {"default_rho", -1},
       {"need_inner_model", false}},
      {{"name", "karras"},
       {"label", "Karras"},
       {"aliases", nullptr},
       {"default_rho", 7.0},
       {"need_inner_model", false}},
      {{"name", "normal"},
       {"label", "Normal"},
       {"aliases", nullptr},
       {"default_rho", -1},
       {"need_inner_model", true}},
      {{"name", "trailing"},
       {"label", "Trailing"},
       {"aliases", nullptr},
       {"default_rho", -1},
       {"need_inner_model", false}},
  });
}

fs::path resolve_checkpoint(const ServerContext& ctx, const std::string& title) {
  auto found = ctx.catalog.find_checkpoint(title);
  if (!found) throw http_error(404, "Model not found: " + title);
  return found->path;
}

std::string current_checkpoint_title(const ServerContext& ctx) {
  const fs::path p = ctx.queue.selected_model();
  return CatalogModel{p, model_stem(p), p.filename().string()}.filename + " [" + model_short_hash(p) + "]";
}

void generation_route(ServerContext& ctx, GenerationMode mode, const httplib::Request& req, const Body& b,
                      httplib::Response& res) {
  require_json_type(ctx, req);
  const json body = parse_json_body(b.text);
  A1111Request r = parse_a1111_request(body, mode, ctx.catalog, request_limits(ctx));
  fs::path checkpoint;
  if (!r.checkpoint.empty()) checkpoint = resolve_checkpoint(ctx, r.checkpoint);
  std::shared_ptr<Job> job = ctx.queue.submit(std::move(r), false, checkpoint);
  // A client that goes away while its job waits or runs cancels it (probe13 L9): nobody would read it.
  const int socket = request_socket(req);
  while (!job->wait_for(std::chrono::milliseconds(200))) {
    if (socket >= 0 && client_gone(socket)) {
      ctx.queue.cancel(job->id);
      close_after(res);
      return send_json(res, 499, {{"detail", "the client closed the connection"}});  // (read by nobody)
    }
  }
  if (job->error_status != 0) return send_json(res, job->error_status, job->error_body);
  send_json(res, 200, a1111_generation_response(*job));
}

json native_job_json(const ServerContext& ctx, const Job& job, bool with_result) {
  json j;
  bool finished = false;
  {
    std::lock_guard<std::mutex> lock(job.mutex);
    finished = job.finished();
    j = {{"id", job.id},
         {"state", job_state_name(job.state)},
         {"mode", job.request.mode == GenerationMode::Img2Img ? "img2img" : "txt2img"},
         {"step", job.step},
         {"steps", job.steps},
         {"batch", job.batch},
         {"batches", job.batches},
         {"interrupted", job.interrupted || job.skipped},
         {"images_done", job.images.size()}};
    const int job_count = std::max(job.batches, 1);
    double progress = finished ? 1.0 : static_cast<double>(job.batch) / job_count;
    if (!finished && job.steps > 0) progress += 1.0 / job_count * job.step / job.steps;
    j["progress"] = progress;
    if (job.error_status != 0) j["error"] = {{"status", job.error_status}, {"body", job.error_body}};
  }
  j["queue_position"] = finished ? 0 : ctx.queue.position(job);
  if (finished && job.error_status == 0) j["result_zip"] = "/i2i/v1/jobs/" + job.id + "/result.zip";
  if (finished && with_result && job.error_status == 0) j["result"] = a1111_generation_response(job);
  return j;
}

// A batch output's name from an upload's file name: its stem, with only [A-Za-z0-9._-] kept, unique.
std::string batch_output_name(const std::string& filename, size_t index,
                              const std::vector<std::string>& taken) {
  std::string base = filename.substr(
      filename.find_last_of("/\\") == std::string::npos ? 0 : filename.find_last_of("/\\") + 1);
  if (const size_t dot = base.rfind('.'); dot != std::string::npos && dot > 0) base.resize(dot);
  std::string name;
  for (char ch : base)
    if (std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_' ||
        (ch == '.' && !name.empty()))
      name += ch;
    else
      name += '_';
  if (name.size() > 100) name.resize(100);
  if (name.empty() || name.find("..") != std::string::npos) name = "image-" + std::to_string(index);
  std::string unique = name;
  for (int n = 1; std::find(taken.begin(), taken.end(), unique) != taken.end(); ++n)
    unique = name + "-" + std::to_string(n);
  return unique;
}

void serve_asset(const std::string& path, httplib::Response& res) {
  auto asset = find_web_asset(path);
  if (!asset) return send_json(res, 404, {{"detail", "Not Found"}});
  res.status = 200;
  res.set_content(std::string(asset->bytes), std::string(asset->content_type).c_str());
  res.set_header("Cache-Control", "no-cache");
}

}  // namespace

bool authorized(const std::string& authorization,
                const std::vector<std::pair<std::string, std::string>>& credentials) {
  std::string given;
  // (the scheme name is case-insensitive: RFC 9110 11.1)
  std::string scheme = authorization.substr(0, 6);
  std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  if (authorization.size() > 6 && scheme == "basic ") {
    auto decoded = base64_decode(std::string_view(authorization).substr(6));
    if (decoded) given.assign(decoded->begin(), decoded->end());
  }
  bool ok = false;
  for (const auto& [user, pass] : credentials) ok |= constant_time_equal(given, user + ":" + pass);
  return ok;
}

void add_routes(httplib::Server& http, ServerContext& ctx) {
  // Framing, credentials, CORS and (on a local server) the request's origin, before any route reads a body.
  http.set_pre_routing_handler([&ctx](const httplib::Request& req, httplib::Response& res) {
    auto refuse = [&res](int status, const std::string& detail) {
      close_after(res);  // (the body, if any, is not read)
      send_json(res, status, {{"detail", detail}});
      return httplib::Server::HandlerResponse::Handled;
    };
    // Request bodies are not inflated (as uvicorn): a few KB of gzip would be gigabytes.
    const std::string encoding = req.get_header_value("Content-Encoding");
    if (!encoding.empty() && encoding != "identity")
      return refuse(
          415, "Content-Encoding '" + encoding.substr(0, 40) + "' is not accepted (send the body as is)");
    if (req.has_header("Content-Length")) {
      const std::string length = req.get_header_value("Content-Length");
      if (length.empty() || length.size() > 18 ||
          !std::all_of(length.begin(), length.end(), [](unsigned char c) { return std::isdigit(c); }))
        return refuse(400, "malformed Content-Length");
    }
    const std::string origin = req.get_header_value("Origin");
    const auto& allowed = ctx.options.cors_origins;
    const bool listed = !origin.empty() && std::find(allowed.begin(), allowed.end(), origin) != allowed.end();
    const bool cors =
        listed || (!origin.empty() && std::find(allowed.begin(), allowed.end(), "*") != allowed.end());
    if (cors) {
      res.set_header("Access-Control-Allow-Origin", origin);
      // ("*" lets any site read the answers, but never with the user's credentials.)
      if (listed) res.set_header("Access-Control-Allow-Credentials", "true");
      res.set_header("Vary", "Origin");
    }
    // DNS rebinding: a server bound to one address answers only the names of that address.
    if (!wildcard_address(ctx.options.host)) {
      const std::string host = host_name(req.get_header_value("Host"));
      if (!host.empty() && host != "127.0.0.1" && host != "localhost" && host != "[::1]" &&
          host != ctx.options.host && host != "[" + ctx.options.host + "]")
        return refuse(403, "Host '" + host.substr(0, 100) + "' is not this server's address (use --listen)");
    }
    if (req.method == "OPTIONS") {  // a CORS preflight: answered without credentials, as browsers send none
      if (cors) {
        res.set_header("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS");
        const std::string asked = req.get_header_value("Access-Control-Request-Headers");
        res.set_header("Access-Control-Allow-Headers", asked.empty() ? "Content-Type, Authorization" : asked);
        res.set_header("Access-Control-Max-Age", "600");
      }
      res.status = cors ? 204 : 400;
      return httplib::Server::HandlerResponse::Handled;
    }
    if (!ctx.options.credentials.empty() &&
        !authorized(req.get_header_value("Authorization"), ctx.options.credentials)) {
      res.set_header("WWW-Authenticate", "Basic realm=\"i2i\"");
      close_after(res);
      send_json(res, 401, {{"detail", "Incorrect username or password"}});
      return httplib::Server::HandlerResponse::Handled;
    }
    // Cross-site requests: on a local server, a request that changes something from a page of another
    // origin (not --cors-allow-origins) is refused, whatever its Content-Type.
    if (ctx.local_only && req.method != "GET" && req.method != "HEAD" && !origin.empty() && !cors &&
        origin != "http://" + req.get_header_value("Host"))
      return refuse(403, "cross-origin request from " + origin.substr(0, 100) +
                             " refused (allow it with --cors-allow-origins)");
    return httplib::Server::HandlerResponse::Unhandled;
  });
  http.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (!res.body.empty()) return;  // a handler's own answer
    if (res.status == 413) return send_json(res, 413, {{"detail", "the request body is too large"}});
    if (res.status == 404) return send_json(res, 404, {{"detail", "Not Found"}});
    send_json(res, res.status, {{"detail", "HTTP " + std::to_string(res.status)}});
  });

  // ---- A1111's API ----
  http.Post("/sdapi/v1/txt2img",
            with_body(ctx, [&ctx](const httplib::Request& req, const Body& body, httplib::Response& res) {
              generation_route(ctx, GenerationMode::Txt2Img, req, body, res);
            }));
  http.Post("/sdapi/v1/img2img",
            with_body(ctx, [&ctx](const httplib::Request& req, const Body& body, httplib::Response& res) {
              generation_route(ctx, GenerationMode::Img2Img, req, body, res);
            }));
  http.Get("/sdapi/v1/progress", guarded([&ctx](const httplib::Request& req, httplib::Response& res) {
             const std::string skip = req.get_param_value("skip_current_image");
             const bool skip_image = skip == "true" || skip == "True" || skip == "1";
             std::shared_ptr<Job> running = ctx.queue.running();
             send_json(res, 200,
                       a1111_progress(running.get(), ctx.queue.waiting(), ctx.queue.completed(), skip_image));
           }));
  http.Post("/sdapi/v1/interrupt", guarded([&ctx](const httplib::Request&, httplib::Response& res) {
              ctx.queue.interrupt(false);
              send_json(res, 200, json::object());
            }));
  http.Post("/sdapi/v1/skip", guarded([&ctx](const httplib::Request&, httplib::Response& res) {
              ctx.queue.interrupt(true);
              send_json(res, 200, json::object());
            }));
  http.Get("/sdapi/v1/samplers", guarded([](const httplib::Request&, httplib::Response& res) {
             json out = json::array();
             for (const std::string& n : sampler_list())
               out.push_back({{"name", n}, {"aliases", json::array()}, {"options", json::object()}});
             send_json(res, 200, out);
           }));
  http.Get("/sdapi/v1/schedulers", guarded([](const httplib::Request&, httplib::Response& res) {
             send_json(res, 200, scheduler_list());
           }));
  http.Get("/sdapi/v1/sd-models", guarded([&ctx](const httplib::Request&, httplib::Response& res) {
             json out = json::array();
             for (const CatalogModel& m : ctx.catalog.checkpoints()) {
               std::string sha;
               try {
                 sha = HashCache::user().sha256(model_hash_file(m.path));
               } catch (const std::exception&) {
                 continue;  // unreadable: not listed
               }
               const std::string shorthash = sha.substr(0, 10);
               out.push_back({{"title", m.filename + " [" + shorthash + "]"},
                              {"model_name", m.name},
                              {"hash", shorthash},
                              {"sha256", sha},
                              {"filename", m.filename},
                              {"config", nullptr}});
             }
             send_json(res, 200, out);
           }));
  http.Get("/sdapi/v1/options", guarded([&ctx](const httplib::Request&, httplib::Response& res) {
             send_json(res, 200,
                       {{"sd_model_checkpoint", current_checkpoint_title(ctx)},
                        {"CLIP_stop_at_last_layers", 1},
                        {"samples_format", "png"},
                        {"sd_vae", "Automatic"}});
           }));
  http.Post("/sdapi/v1/options",
            with_body(ctx, [&ctx](const httplib::Request& req, const Body& b, httplib::Response& res) {
              require_json_type(ctx, req);
              const json body = parse_json_body(b.text);
              if (!body.is_object())
                throw validation_error(json::array({"body"}), "value is not a valid dict");
              json ignored = json::array();
              for (auto it = body.begin(); it != body.end(); ++it) {
                if (it.key() == "sd_model_checkpoint") {
                  if (!it.value().is_string())
                    throw validation_error(json::array({"body", "sd_model_checkpoint"}), "str type expected");
                  const fs::path p = resolve_checkpoint(ctx, it.value().get<std::string>());
                  try {
                    ctx.queue.select_model(p);
                  } catch (const std::exception& e) {
                    throw http_error(500, std::string("cannot load the model: ") + e.what());
                  }
                } else {
                  ignored.push_back(it.key());
                }
              }
              // A1111 answers null; the settings i2i does not keep are named.
              send_json(res, 200, ignored.empty() ? json(nullptr) : json({{"i2i_ignored", ignored}}));
            }));
  http.Post(
      "/sdapi/v1/png-info",
      with_body(ctx, [&ctx](const httplib::Request& req, const Body& b, httplib::Response& res) {
        require_json_type(ctx, req);
        const json body = parse_json_body(b.text);
        if (!body.is_object() || !body.contains("image") || !body["image"].is_string())
          throw validation_error(json::array({"body", "image"}), "field required");
        const std::string& text = body["image"].get_ref<const std::string&>();
        const auto bytes = base64_decode(strip_data_url(text));
        if (!bytes || bytes->empty())
          throw validation_error(json::array({"body", "image"}), "not base64 data (plain or a data: URL)");
        std::map<std::string, std::string> chunks;
        try {
          chunks = read_png_text(bytes->data(), bytes->size(), "image", ctx.options.max_pixels);
        } catch (const std::exception& e) {
          // Not a PNG (JPEG, WebP): no text, as A1111 answers for a picture without parameters.
          if (bytes->size() < 8 || (*bytes)[0] != 0x89) {
            send_json(res, 200, {{"info", ""}, {"items", json::object()}, {"parameters", json::object()}});
            return;
          }
          throw validation_error(json::array({"body", "image"}), e.what());
        }
        json items = json::object();
        std::string info;
        for (const auto& [k, v] : chunks) {
          if (k == "parameters")
            info = v;
          else
            items[k] = v;
        }
        json params = json::object();
        if (!info.empty()) {
          const GenerationParameters g = parse_parameters(info);
          params["Prompt"] = g.prompt;
          params["Negative prompt"] = g.negative_prompt;
          for (const auto& [k, v] : g.params) params[k] = v;
        }
        send_json(res, 200, {{"info", info}, {"items", items}, {"parameters", params}});
      }));

  // ---- The ControlNet extension's lists ----
  http.Get("/controlnet/model_list", guarded([&ctx](const httplib::Request&, httplib::Response& res) {
             json list = json::array();
             // ControlNets, then the IP-Adapters of ipadapter/ (those in ControlNet/ are listed already).
             std::vector<CatalogModel> models = ctx.catalog.controlnets();
             for (CatalogModel& m : ctx.catalog.ip_adapters())
               if (m.path.parent_path().filename() == "ipadapter") models.push_back(std::move(m));
             for (const CatalogModel& m : models) {
               try {
                 list.push_back(controlnet_title(m));
               } catch (const std::exception&) {
               }
             }
             send_json(res, 200, {{"model_list", list}});
           }));
  http.Get("/controlnet/module_list", guarded([&ctx](const httplib::Request& req, httplib::Response& res) {
             const std::string alias = req.get_param_value("alias_names");
             send_json(
                 res, 200,
                 controlnet_module_list(ctx.catalog, alias == "true" || alias == "True" || alias == "1"));
           }));
  http.Get("/controlnet/version", guarded([](const httplib::Request&, httplib::Response& res) {
             send_json(res, 200, {{"version", 2}});
           }));

  // ---- The native asynchronous API ----
  http.Post("/i2i/v1/jobs",
            with_body(ctx, [&ctx](const httplib::Request& req, const Body& b, httplib::Response& res) {
              require_json_type(ctx, req);
              const json body = parse_json_body(b.text);
              std::string mode;
              if (body.is_object() && body.contains("mode") && !body["mode"].is_null()) {
                if (!body["mode"].is_string())
                  throw validation_error(json::array({"body", "mode"}), "mode is img2img or txt2img");
                mode = body["mode"].get<std::string>();
              }
              if (mode.empty() && body.is_object())
                mode = body.contains("init_images") ? "img2img" : "txt2img";
              if (mode != "img2img" && mode != "txt2img")
                throw validation_error(json::array({"body", "mode"}), "mode is img2img or txt2img");
              A1111Request r = parse_a1111_request(
                  body, mode == "img2img" ? GenerationMode::Img2Img : GenerationMode::Txt2Img, ctx.catalog,
                  request_limits(ctx));
              fs::path checkpoint;
              if (!r.checkpoint.empty()) checkpoint = resolve_checkpoint(ctx, r.checkpoint);
              std::shared_ptr<Job> job = ctx.queue.submit(std::move(r), true, checkpoint);
              send_json(res, 202, native_job_json(ctx, *job, false));
            }));
  http.Get(R"(/i2i/v1/jobs/([0-9a-f]+))",
           guarded([&ctx](const httplib::Request& req, httplib::Response& res) {
             std::shared_ptr<Job> job = ctx.queue.find(req.matches[1]);
             if (!job) throw http_error(404, "no such job");
             send_json(res, 200, native_job_json(ctx, *job, true));
           }));
  http.Delete(R"(/i2i/v1/jobs/([0-9a-f]+))",
              guarded([&ctx](const httplib::Request& req, httplib::Response& res) {
                std::shared_ptr<Job> job = ctx.queue.find(req.matches[1]);
                if (!job) throw http_error(404, "no such job");
                ctx.queue.cancel(job->id);
                send_json(res, 200, native_job_json(ctx, *job, false));
              }));
  http.Get(R"(/i2i/v1/jobs/([0-9a-f]+)/events)",
           guarded([&ctx](const httplib::Request& req, httplib::Response& res) {
             std::shared_ptr<Job> job = ctx.queue.find(req.matches[1]);
             if (!job) throw http_error(404, "no such job");
             // Each stream holds a connection thread for the job's life: a few at once, so that progress
             // and interrupt are always answered.
             if (ctx.event_streams.fetch_add(1) >= kMaxEventStreams) {
               --ctx.event_streams;
               throw http_error(429, "more than " + std::to_string(kMaxEventStreams) +
                                         " event streams open: poll GET /i2i/v1/jobs/{id} instead");
             }
             // (given back when the response, which holds the provider, goes)
             std::shared_ptr<void> stream_slot(nullptr, [c = &ctx](void*) { --c->event_streams; });
             auto last = std::make_shared<uint64_t>(~uint64_t{0});
             ServerContext* c = &ctx;
             res.set_header("Cache-Control", "no-cache");
             res.set_chunked_content_provider(
                 "text/event-stream", [job, last, c, stream_slot](size_t, httplib::DataSink& sink) {
                   // One event per change: progress (with the preview) while it runs, then the result.
                   {
                     std::unique_lock<std::mutex> lock(job->mutex);
                     job->changed.wait_for(lock, std::chrono::seconds(1),
                                           [&] { return job->version != *last || job->finished(); });
                     if (job->version == *last && !job->finished()) {
                       lock.unlock();
                       const std::string keepalive = ": keep-alive\n\n";
                       return sink.write(keepalive.data(), keepalive.size());
                     }
                     *last = job->version;
                   }
                   const bool finished = [&] {
                     std::lock_guard<std::mutex> lock(job->mutex);
                     return job->finished();
                   }();
                   json data = native_job_json(*c, *job, finished);
                   if (!finished) {
                     std::lock_guard<std::mutex> lock(job->mutex);
                     if (job->preview) data["preview"] = png_base64(*job->preview, "");
                   }
                   const std::string event = std::string("event: ") + (finished ? "done" : "progress") +
                                             "\ndata: " + data.dump() + "\n\n";
                   if (!sink.write(event.data(), event.size())) return false;
                   if (finished) sink.done();
                   return true;
                 });
           }));

  // A folder batch: multipart/form-data with picture files (any field name; "images" by convention) and a
  // "params" field holding the img2img body (without init_images). -> an async job whose result is also a
  // zip of the outputs, each with its parameters text.
  http.Post(
      "/i2i/v1/batch",
      with_body(ctx, [&ctx](const httplib::Request& req, const Body& b, httplib::Response& res) {
        if (!req.is_multipart_form_data())
          throw validation_error(json::array({"body"}), "expected multipart/form-data with picture files");
        json body = json::object();
        std::vector<const httplib::MultipartFormData*> files;
        for (const auto& [name, part] : b.files) {
          if (name == "params" && part.filename.empty())
            body = parse_json_body(part.content);
          else if (!part.filename.empty())
            files.push_back(&part);
        }
        if (!body.is_object())
          throw validation_error(json::array({"body", "params"}), "value is not a valid dict");
        if (files.empty()) throw validation_error(json::array({"body", "images"}), "no picture files");
        if (files.size() > 1000)
          throw validation_error(json::array({"body", "images"}), "more than 1000 pictures");
        std::vector<Image> inputs;
        std::vector<std::string> names;
        for (size_t i = 0; i < files.size(); ++i) {
          const std::string& c = files[i]->content;
          inputs.push_back(decode_request_bytes(std::vector<uint8_t>(c.begin(), c.end()),
                                                json::array({"body", "images", i}), ctx.options.max_pixels));
          names.push_back(batch_output_name(files[i]->filename, i, names));
        }
        // The settings are checked as an img2img request on the first picture.
        body["init_images"] = json::array({png_base64(inputs.front(), "")});
        A1111Request r = parse_a1111_request(body, GenerationMode::Img2Img, ctx.catalog, request_limits(ctx));
        r.batch_inputs = std::move(inputs);
        r.batch_names = std::move(names);
        fs::path checkpoint;
        if (!r.checkpoint.empty()) checkpoint = resolve_checkpoint(ctx, r.checkpoint);
        std::shared_ptr<Job> job = ctx.queue.submit(std::move(r), true, checkpoint);
        send_json(res, 202, native_job_json(ctx, *job, false));
      }));
  http.Get(R"(/i2i/v1/jobs/([0-9a-f]+)/result\.zip)",
           guarded([&ctx](const httplib::Request& req, httplib::Response& res) {
             std::shared_ptr<Job> job = ctx.queue.find(req.matches[1]);
             if (!job) throw http_error(404, "no such job");
             ZipWriter zip;
             {
               std::lock_guard<std::mutex> lock(job->mutex);
               if (!job->finished()) throw http_error(409, "the job has not finished");
               for (size_t k = 0; k < job->images.size(); ++k) {
                 const GeneratedImage& g = job->images[k];
                 const std::string name =
                     k < job->image_names.size() ? job->image_names[k] : "image-" + std::to_string(k);
                 const auto png = encode_png(g.image, {{"parameters", g.parameters}}, name);
                 zip.add(name + ".png", std::string(png.begin(), png.end()));
                 zip.add(name + ".txt", g.parameters + "\n");
               }
             }
             res.status = 200;
             res.set_content(zip.finish(), "application/zip");
             res.set_header("Content-Disposition",
                            "attachment; filename=\"i2i-" + job->id.substr(0, 8) + ".zip\"");
           }));

  // ---- The page ----
  http.Get("/", [](const httplib::Request&, httplib::Response& res) { serve_asset("index.html", res); });
  http.Get(R"(/(.+))", [](const httplib::Request& req, httplib::Response& res) {
    const std::string path = req.matches[1];
    if (path.find("..") != std::string::npos) return send_json(res, 404, {{"detail", "Not Found"}});
    serve_asset(path, res);
  });
}

}  // namespace i2i::server
