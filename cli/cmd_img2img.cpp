// `i2i img2img`, `i2i inpaint` and `i2i txt2img`: flags -> a GenerationRequest -> generate() (the library,
// pipelines/generation.h) -> numbered PNG files carrying their parameters text.
#include <algorithm>
#include <chrono>
#include <cstdio>

#include "args.h"
#include "commands.h"
#include "core/phase_timer.h"
#include "generation_args.h"
#include "output_names.h"
#include "pipelines/generation.h"
#include "progress.h"
#include "sampling/scheduler.h"
#include "stage.h"

namespace i2i::cli {
namespace fs = std::filesystem;
namespace {

// The pictures of --init-dir, in name order (regular files with a picture's extension; not sub-folders).
std::vector<fs::path> folder_pictures(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw Error("--init-dir " + dir.string() + ": not a folder");
  std::vector<fs::path> out;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::string ext = it->path().extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
    if (it->is_regular_file(ec) && (ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".webp"))
      out.push_back(it->path());
  }
  if (ec) throw Error("--init-dir " + dir.string() + ": " + ec.message());
  std::sort(out.begin(), out.end());
  if (out.empty()) throw Error("--init-dir " + dir.string() + ": no PNG, JPEG or WebP pictures in it");
  return out;
}

// img2img over a folder: one model load, each picture with the same settings (its seed too, unless -1),
// written to --output-dir as <stem>.png (numbered when taken, unless --overwrite). A picture that cannot be
// read is reported and skipped; the exit status is 1 when any was.
int run_folder(const Args& a, GenerationRequest base, const char* command) {
  for (const char* flag : {"init", "output", "mask"})
    if (a.has(flag)) throw Error(std::string("--init-dir does not go with --") + flag);
  const auto out_dir = a.get("output-dir");
  if (!out_dir) throw Error("--init-dir needs --output-dir (where the results go)");
  std::error_code ec;
  if (!fs::is_directory(*out_dir, ec)) throw Error("--output-dir " + *out_dir + ": not a folder");
  const std::vector<fs::path> pictures = folder_pictures(*a.get("init-dir"));
  const bool quiet = a.has("quiet");
  if (!quiet) std::fprintf(stderr, "loading %s\n", base.params.model.c_str());
  std::unique_ptr<ModelSet> models =
      ModelSet::load(base.params.model, model_options_from_args(a, base.params));
  int failed = 0;
  for (const fs::path& picture : pictures) {
    GenerationRequest req = base;
    req.params.init_image = picture.string();
    try {
      read_request_images(req);
    } catch (const Error& e) {
      std::fprintf(stderr, "i2i %s: skipped: %s\n", command, e.what());
      ++failed;
      continue;
    }
    req.progress = BatchProgressBars(command, quiet);
    int next_name = 0;
    const fs::path out_base = fs::path(*out_dir) / (picture.stem().string() + ".png");
    req.on_image = [&](const GeneratedImage& g) {
      const fs::path out = next_output(out_base, next_name, a.has("overwrite"));
      write_png(out, g.image, {{"parameters", g.parameters}});
      std::printf("%s (seed %lld)\n", out.c_str(), static_cast<long long>(g.seed));
      std::fflush(stdout);
    };
    GenerationResult r = generate(*models, req);
    for (const std::string& n : r.notices) std::fprintf(stderr, "i2i %s: notice: %s\n", command, n.c_str());
  }
  return failed ? 1 : 0;
}
int run_request(const Args& a, GenerationCommand kind, const char* command);

int run_generation(int argc, char** argv, GenerationCommand kind) {
  const char* command = kind == GenerationCommand::Inpaint   ? "inpaint"
                        : kind == GenerationCommand::Txt2Img ? "txt2img"
                                                             : "img2img";
  const auto& options = kind == GenerationCommand::Txt2Img ? txt2img_options() : generation_options();
  Args a(argc, argv, 2, options);
  if (a.has("help")) {
    std::printf("usage: i2i %s --model PATH%s [--prompt TEXT] [options]\n\n%s", command,
                kind == GenerationCommand::Txt2Img   ? ""
                : kind == GenerationCommand::Inpaint ? " --init IMAGE --mask IMAGE"
                                                     : " --init IMAGE",
                format_options(options).c_str());
    return 0;
  }
  if (a.has("list-samplers")) {
    for (const auto& n : sampler_names()) std::printf("%s\n", n.c_str());
    return 0;
  }
  if (!a.positional().empty()) throw Error("unexpected argument '" + a.positional()[0] + "'");
  try {
    return run_request(a, kind, command);
  } catch (const ParameterError& e) {
    // A bad value is named as the user gave it: a flag, or the key of the --from-png picture.
    throw Error(e.render([&](const std::string& name) { return name_parameter(a, name); }));
  }
}

int run_request(const Args& a, GenerationCommand kind, const char* command) {
  GenerationRequest req = generation_request_from_args(a, kind);
  if (const std::string w = from_png_warning(a); !w.empty())
    std::fprintf(stderr, "i2i %s: warning: %s\n", command, w.c_str());
  validate_request(req);
  if (a.has("init-dir")) {
    if (kind == GenerationCommand::Inpaint)
      throw Error("--init-dir is for img2img (one mask fits no folder)");
    return run_folder(a, std::move(req), command);
  }
  if (a.has("output-dir")) throw Error("--output-dir goes with --init-dir (else give --output)");
  const fs::path out_base = a.get_or("output", "output.png");
  OutputCheck out_check;
  out_check.overwrite = a.has("overwrite");
  out_check.count = static_cast<int64_t>(req.params.batch_count) * req.params.batch_size;
  check_output(out_base, out_check);  // every name the run will write, before any work

  // --verbose: the phase breakdown (core/phase_timer.h) and the wall time, printed when the run ends.
  const bool verbose = a.has("verbose");
  const auto started = std::chrono::steady_clock::now();
  auto seconds_since = [](std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
  };
  if (verbose) phase_timer::enable(true);
  set_stage("reading the pictures");
  read_request_images(req);  // a bad picture is reported before the model loads
  const bool quiet = a.has("quiet");
  if (!quiet) std::fprintf(stderr, "loading %s\n", req.params.model.c_str());
  set_stage("loading the model " + req.params.model);
  const auto load_started = std::chrono::steady_clock::now();
  std::unique_ptr<ModelSet> models = ModelSet::load(req.params.model, model_options_from_args(a, req.params));
  const double load_seconds = seconds_since(load_started);
  req.params.model = models->path().string();  // (a name resolved)
  for (const ControlParams& c : req.params.controls) {
    if (!quiet) std::fprintf(stderr, "loading ControlNet %s\n", c.model.c_str());
    set_stage("loading the ControlNet " + c.model);
    models->controlnet(c.model);
  }
  for (const IpAdapterParams& u : req.params.ip_adapters) {
    if (!quiet) std::fprintf(stderr, "loading IP-Adapter %s\n", u.model.c_str());
    set_stage("loading the IP-Adapter " + u.model);
    models->ip_adapter_cache().adapter(u.model, models->model());
  }
  req.progress = [bars = BatchProgressBars(command, quiet)](const GenerationProgress& s) mutable {
    set_stage("generating (batch " + std::to_string(s.batch + 1) + "/" + std::to_string(s.batches) +
              ", after step " + std::to_string(s.step) + "/" + std::to_string(s.steps) + ")");
    return bars(s);
  };
  int next_name = 0;
  req.on_image = [&](const GeneratedImage& g) {  // each picture is written as soon as it is made
    const fs::path out = next_output(out_base, next_name, a.has("overwrite"));
    set_stage("writing " + out.string());
    write_png(out, g.image, {{"parameters", g.parameters}});
    std::printf("%s (seed %lld)\n", out.c_str(), static_cast<long long>(g.seed));
    std::fflush(stdout);
  };
  set_stage("generating (encoding the prompt and the pictures)");
  GenerationResult r = generate(*models, req);
  if (verbose) {
    std::string out =
        phase_timer::format(phase_timer::snapshot(), "i2i " + std::string(command) + ": phase ");
    char line[160];
    std::snprintf(line, sizeof line, "i2i %s: model load %.3f s, run wall %.3f s\n", command, load_seconds,
                  seconds_since(started));
    std::fprintf(stderr, "%s%s", out.c_str(), line);
  }
  for (const std::string& n : r.notices) std::fprintf(stderr, "i2i %s: notice: %s\n", command, n.c_str());
  if (r.nothing_to_repaint)
    std::fprintf(
        stderr, "i2i %s: the mask %s is all black%s: nothing to do; the source is written unchanged\n",
        command, req.params.mask.c_str(), req.params.mask_options.invert ? " (after --invert-mask)" : "");
  return 0;
}

}  // namespace

int cmd_img2img(int argc, char** argv) {
  return run_generation(argc, argv, GenerationCommand::Img2Img);
}

int cmd_inpaint(int argc, char** argv) {
  return run_generation(argc, argv, GenerationCommand::Inpaint);
}

int cmd_txt2img(int argc, char** argv) {
  return run_generation(argc, argv, GenerationCommand::Txt2Img);
}

}  // namespace i2i::cli
