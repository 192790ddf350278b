// `i2i img2img`: a source image + a prompt -> a new image that keeps the source's composition.
#include <cstdio>
#include <filesystem>
#include <random>

#include "args.h"
#include "commands.h"
#include "core/error.h"
#include "io/image.h"
#include "io/image_resize.h"
#include "io/safetensors.h"
#include "pipelines/img2img.h"
#include "pipelines/infotext.h"
#include "progress.h"
#include "sampling/rng_torch.h"
#include "sampling/scheduler.h"

namespace i2i::cli {
namespace fs = std::filesystem;
namespace {

const std::vector<OptionSpec>& img2img_options() {
  static const std::vector<OptionSpec> specs = {
      {"model", true, "checkpoint (.safetensors) or diffusers folder", "PATH"},
      {"init", true, "the source image (PNG, JPEG or WebP)", "IMAGE"},
      {"prompt", true, "what the new image shows (A1111 syntax: (word:1.3), [word], BREAK)", "TEXT"},
      {"negative-prompt", true, "what it should not show", "TEXT"},
      {"strength", true, "denoising strength 0..1: how much changes (default 0.75)", "S"},
      {"steps", true, "sampling steps (default 20; img2img runs strength x steps of them)", "N"},
      {"cfg-scale", true, "classifier-free guidance scale (default 7; 1 skips the negative pass)", "G"},
      {"sampler", true, "sampler, as AUTOMATIC1111 names it (default \"Euler a\"; see --list-samplers)",
       "NAME"},
      {"scheduler", true, "schedule type: automatic (default), karras or normal", "TYPE"},
      {"seed", true, "random seed (default -1: a random one, printed)", "N"},
      {"width", true, "output width (default: the init image's, rounded down to a multiple of 8)", "W"},
      {"height", true, "output height (default: the init image's, rounded down to a multiple of 8)", "H"},
      {"resize-mode", true, "\"just resize\" (default), \"crop and resize\" or \"resize and fill\"", "MODE"},
      {"clip-skip", true, "stop the text encoder N-1 layers early, as A1111's Clip skip (default 1)", "N"},
      {"no-emphasis", false, "read ( ) [ ] and (text:weight) literally"},
      {"batch-count", true, "how many batches to make (default 1)", "N"},
      {"batch-size", true, "images per batch (default 1); image k uses seed + k", "N"},
      {"output", true, "output PNG (default output.png; existing files are not overwritten: numbered)",
       "FILE"},
      {"overwrite", false, "replace existing output files"},
      {"from-png", true, "re-run the generation recorded in a PNG's parameters (flags given override it)",
       "PNG"},
      {"vae", true, "a VAE to use instead of the checkpoint's (file or diffusers folder)", "PATH"},
      {"tokenizer", true, "folder with the CLIP vocab.json and merges.txt", "DIR"},
      {"model-config", true, "model configuration (diffusers-style JSON or LDM YAML)", "FILE"},
      {"prediction", true, "prediction type for a bare SD 2.x file: v (default) or eps", "TYPE"},
      {"precision", true, "auto (default: bf16 where the CPU has it, for full-size models), fp32 or bf16",
       "P"},
      {"noise-file", true, "replay noise tensors from a safetensors file, in file order (debugging)", "FILE"},
      {"quiet", false, "no progress bar"},
      {"list-samplers", false, "print the sampler names and exit"},
      {"help", false, "this text"},
  };
  return specs;
}

// out.png, out-1.png, out-2.png, ...: the k-th candidate name.
fs::path candidate(const fs::path& base, int k) {
  if (k == 0) return base;
  fs::path p = base;
  return p.replace_filename(base.stem().string() + "-" + std::to_string(k) + base.extension().string());
}

int to_int(const Args& a, const char* name, int current) {
  auto v = a.integer(name);
  if (!v) return current;
  if (*v < -2147483647LL || *v > 2147483647LL) throw Error(std::string("--") + name + " is out of range");
  return static_cast<int>(*v);
}

}  // namespace

int cmd_img2img(int argc, char** argv) {
  Args a(argc, argv, 2, img2img_options());
  if (a.has("help")) {
    std::printf("usage: i2i img2img --model PATH --init IMAGE --prompt TEXT [options]\n\n%s",
                format_options(img2img_options()).c_str());
    return 0;
  }
  if (a.has("list-samplers")) {
    for (const auto& n : sampler_names()) std::printf("%s\n", n.c_str());
    return 0;
  }
  if (!a.positional().empty()) throw Error("unexpected argument '" + a.positional()[0] + "'");

  GenerationParams p;
  if (auto png = a.get("from-png")) {
    auto text = read_png_text(*png);
    auto it = text.find("parameters");
    if (it == text.end()) throw Error(*png + ": no generation parameters in this PNG");
    apply_infotext(parse_parameters(it->second), p);
  }
  p.model = a.get_or("model", p.model);
  p.vae = a.get_or("vae", p.vae);
  p.init_image = a.get_or("init", p.init_image);
  p.prompt = a.get_or("prompt", p.prompt);
  p.negative_prompt = a.get_or("negative-prompt", p.negative_prompt);
  if (auto v = a.number("strength")) p.strength = *v;
  p.steps = to_int(a, "steps", p.steps);
  if (auto v = a.number("cfg-scale")) p.cfg_scale = *v;
  p.sampler = a.get_or("sampler", p.sampler);
  p.schedule = a.get_or("scheduler", p.schedule);
  if (auto v = a.integer("seed")) p.seed = *v;
  p.width = to_int(a, "width", p.width);
  p.height = to_int(a, "height", p.height);
  if (auto v = a.get("resize-mode")) p.resize_mode = parse_resize_mode(*v);
  p.clip_skip = to_int(a, "clip-skip", p.clip_skip);
  if (a.has("no-emphasis")) p.emphasis = false;
  p.batch_count = to_int(a, "batch-count", p.batch_count);
  p.batch_size = to_int(a, "batch-size", p.batch_size);

  if (p.model.empty()) throw Error("--model is required (a .safetensors checkpoint or a diffusers folder)");
  if (p.init_image.empty()) throw Error("--init is required (the source image)");
  for (const char* dim : {"width", "height"})
    if (a.has(dim) && *a.integer(dim) <= 0)
      throw Error(std::string("--") + dim + " must be a positive number of pixels, got " + *a.get(dim));
  p.validate();
  canonical_sampler_name(p.sampler);  // an unknown sampler fails here, before the model loads
  if ((a.has("width") && p.width % 8 != 0) || (a.has("height") && p.height % 8 != 0))
    throw Error("--width and --height must be multiples of 8, got " + std::to_string(p.width) + "x" +
                std::to_string(p.height));

  // The source image, at the output size.
  Image init = to_rgb(read_image(p.init_image));
  int width = p.width ? p.width : init.width / 8 * 8;
  int height = p.height ? p.height : init.height / 8 * 8;
  if (width < 8 || height < 8)
    throw Error(p.init_image + ": the image is " + std::to_string(init.width) + "x" +
                std::to_string(init.height) + ", smaller than the 8x8 minimum");
  if (width != init.width || height != init.height) init = resize_image(p.resize_mode, init, width, height);

  SdModelOptions mo;
  mo.vae = p.vae;
  mo.tokenizer = a.get_or("tokenizer", "");
  if (auto v = a.get("model-config")) mo.checkpoint.model_config = *v;
  if (auto v = a.get("prediction")) mo.checkpoint.prediction = parse_prediction(*v);
  mo.precision = parse_precision(a.get_or("precision", "auto"));
  const bool quiet = a.has("quiet");
  if (!quiet) std::fprintf(stderr, "loading %s\n", p.model.c_str());
  SdModel model = load_sd_model(p.model, mo);

  std::vector<Tensor> replay;
  if (auto nf = a.get("noise-file")) {
    SafeTensors st = SafeTensors::open(*nf);
    for (const auto& name : st.names()) replay.push_back(st.get_f32(name).clone());
  }

  int64_t seed = p.seed;
  if (seed < 0) seed = std::random_device{}();
  const fs::path out_base = a.get_or("output", "output.png");
  int next_name = 0;
  for (int batch = 0; batch < p.batch_count; ++batch) {
    Img2ImgRequest req;
    req.init_image = image_to_tensor(init);
    req.prompt = p.prompt;
    req.negative_prompt = p.negative_prompt;
    req.strength = p.strength;
    req.steps = p.steps;
    req.cfg_scale = p.cfg_scale;
    req.sampler = p.sampler;
    req.schedule = p.schedule;
    req.batch_size = p.batch_size;
    req.prompt_options.clip_skip = p.clip_skip;
    req.prompt_options.emphasis = p.emphasis;
    std::vector<std::unique_ptr<NoiseSource>> sources;
    std::vector<NoiseSource*> noise;
    if (!replay.empty()) {
      sources.push_back(std::make_unique<ReplayNoise>(replay));
      noise.push_back(sources.back().get());
    } else {
      for (int k = 0; k < p.batch_size; ++k) {
        sources.push_back(
            std::make_unique<TorchCpuGenerator>(static_cast<uint64_t>(seed + batch * p.batch_size + k)));
        noise.push_back(sources.back().get());
      }
    }
    std::string label = p.batch_count > 1
                            ? "batch " + std::to_string(batch + 1) + "/" + std::to_string(p.batch_count)
                            : "img2img";
    ProgressBar bar(label, quiet);
    Img2ImgResult r = run_img2img(model, req, noise, [&](const StepInfo& s) { bar.update(s.step, s.total); });
    bar.finish();
    for (int k = 0; k < p.batch_size; ++k) {
      const int64_t image_seed = seed + batch * p.batch_size + k;
      fs::path out = candidate(out_base, next_name++);
      if (!a.has("overwrite"))
        while (fs::exists(out)) out = candidate(out_base, next_name++);
      std::string text = format_parameters(make_infotext(p, image_seed, width, height, k));
      write_png(out, tensor_to_image(r.images, k), {{"parameters", text}});
      std::printf("%s (seed %lld)\n", out.c_str(), static_cast<long long>(image_seed));
    }
  }
  return 0;
}

}  // namespace i2i::cli
