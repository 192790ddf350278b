// `i2i serve`: flags -> server::ServerOptions -> server::serve() (server/: the HTTP API, its job queue and
// the web page).
#include <cstdio>

#include "args.h"
#include "commands.h"
#include "core/error.h"
#include "server/server.h"

namespace i2i::cli {
namespace {

const std::vector<OptionSpec>& serve_options() {
  static const std::vector<OptionSpec> specs = {
      {"model", true,
       "the checkpoint loaded at start (.safetensors or diffusers folder, or a checkpoint name in the models "
       "folder's Stable-diffusion/)",
       "MODEL"},
      {"models-dir", true,
       "models folder in AUTOMATIC1111's layout: Stable-diffusion/, ControlNet/, Lora/, embeddings/ (default "
       "$I2I_MODELS_DIR or ~/.local/share/i2i/models); requests name models only from here",
       "DIR"},
      {"host", true, "address to listen on (default 127.0.0.1)", "ADDR"},
      {"listen", false, "listen on every address (0.0.0.0), as A1111's --listen"},
      {"port", true, "port (default 7860; 0: any free port, printed)", "N"},
      {"api-auth", true, "HTTP Basic credentials every request must carry", "USER:PASS[,USER:PASS...]"},
      {"cors-allow-origins", true, "origins allowed to call the API from a browser (comma-separated; *: any)",
       "LIST"},
      {"queue-size", true, "jobs that may wait behind the running one before requests get 429 (default 16)",
       "N"},
      {"max-pixels", true, "largest width x height a request may generate or send (default 4194304)", "N"},
      {"max-body-mb", true, "largest request body in MiB (default 64; larger answer 413)", "N"},
      {"vae", true, "a VAE to use instead of the checkpoint's (file or diffusers folder)", "PATH"},
      {"tokenizer", true, "folder with the CLIP vocab.json and merges.txt", "DIR"},
      {"precision", true, "auto (default), fp32 or bf16", "P"},
      {"help", false, "this text"},
  };
  return specs;
}

long long positive(const Args& a, const char* name, long long fallback, long long max) {
  auto v = a.integer(name);
  if (!v) return fallback;
  if (*v < 0 || *v > max)
    throw Error(std::string("--") + name + " must be between 0 and " + std::to_string(max) + ", got " +
                std::to_string(*v));
  return *v;
}

}  // namespace

int cmd_serve(int argc, char** argv) {
  Args a(argc, argv, 2, serve_options());
  if (a.has("help")) {
    std::printf("usage: i2i serve --model MODEL [options]\n\n%s", format_options(serve_options()).c_str());
    return 0;
  }
  if (!a.positional().empty()) throw Error("unexpected argument '" + a.positional()[0] + "'");
  server::ServerOptions o;
  o.model = a.get_or("model", "");
  if (o.model.empty()) throw Error("--model is required (a .safetensors checkpoint or a diffusers folder)");
  o.models_dir = a.get_or("models-dir", "");
  o.host = a.has("listen") ? "0.0.0.0" : a.get_or("host", o.host);
  o.port = static_cast<int>(positive(a, "port", o.port, 65535));
  if (auto v = a.get("api-auth")) o.credentials = server::parse_credentials(*v);
  if (auto v = a.get("cors-allow-origins")) o.cors_origins = server::split_list(*v);
  o.queue_size = static_cast<size_t>(positive(a, "queue-size", static_cast<long long>(o.queue_size), 100000));
  o.max_pixels = positive(a, "max-pixels", o.max_pixels, int64_t{8192} * 8192);
  if (o.max_pixels == 0) throw Error("--max-pixels must be positive");
  o.max_body_bytes = static_cast<size_t>(positive(a, "max-body-mb", 64, 4096)) << 20;
  o.model_options.vae = a.get_or("vae", "");
  o.model_options.tokenizer = a.get_or("tokenizer", "");
  o.model_options.precision = parse_precision(a.get_or("precision", "auto"));
  return server::serve(o);
}

}  // namespace i2i::cli
