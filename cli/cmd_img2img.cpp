// `i2i img2img` and `i2i inpaint`: a source image + a prompt -> a new image that keeps the source's
// composition; with a mask only the masked area changes; ControlNet units steer the structure.
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <random>

#include "args.h"
#include "commands.h"
#include "core/error.h"
#include "generation_args.h"
#include "io/image.h"
#include "io/image_resize.h"
#include "io/safetensors.h"
#include "models/controlnet_load.h"
#include "output_names.h"
#include "pipelines/img2img.h"
#include "pipelines/infotext.h"
#include "pipelines/inpaint.h"
#include "preprocess/canny.h"
#include "preprocess/control_image.h"
#include "progress.h"
#include "sampling/rng_philox.h"
#include "sampling/rng_torch.h"
#include "sampling/scheduler.h"

namespace i2i::cli {
namespace fs = std::filesystem;
namespace {

struct LoadedControls {
  std::vector<std::unique_ptr<ControlNet>> nets;
  std::vector<ControlUnit> units;
};

// Loads every unit's ControlNet (checked against the checkpoint) and control image, prepared at the
// output size (base_w x base_h) and then cut to the work area of an "only masked" inpainting.
LoadedControls load_controls(const GenerationParams& p, const SdModel& model, int base_w, int base_h,
                             const InpaintSetup* setup, bool quiet) {
  LoadedControls out;
  for (size_t i = 0; i < p.controls.size(); ++i) {
    const ControlParams& c = p.controls[i];
    if (!quiet) std::fprintf(stderr, "loading ControlNet %s\n", c.model.c_str());
    out.nets.push_back(
        std::make_unique<ControlNet>(load_controlnet(open_checkpoint(c.model), model.precision)));
    const std::string name = fs::path(c.model).filename().string();
    check_controlnet_matches(out.nets.back()->config(), model.unet.config(), name,
                             fs::path(p.model).filename().string());
    Image img = prepare_control_image(read_image(c.image), base_w, base_h, p.resize_mode);
    if (c.preprocess == "canny") img = to_rgb(canny(img, c.canny_low, c.canny_high));
    if (setup) img = to_work_area(*setup, img);
    ControlUnit u;
    u.model = out.nets.back().get();
    u.name = name;
    u.image = control_image_tensor(img);
    u.weight = c.weight;
    u.guidance_start = c.guidance_start;
    u.guidance_end = c.guidance_end;
    out.units.push_back(std::move(u));
  }
  return out;
}

int run_generation(int argc, char** argv, bool inpaint_command) {
  const char* command = inpaint_command ? "inpaint" : "img2img";
  Args a(argc, argv, 2, generation_options());
  if (a.has("help")) {
    std::printf("usage: i2i %s --model PATH --init IMAGE%s --prompt TEXT [options]\n\n%s", command,
                inpaint_command ? " --mask IMAGE" : "", format_options(generation_options()).c_str());
    return 0;
  }
  if (a.has("list-samplers")) {
    for (const auto& n : sampler_names()) std::printf("%s\n", n.c_str());
    return 0;
  }
  if (!a.positional().empty()) throw Error("unexpected argument '" + a.positional()[0] + "'");

  GenerationParams p = generation_params_from_args(a);
  if (p.model.empty()) throw Error("--model is required (a .safetensors checkpoint or a diffusers folder)");
  if (p.init_image.empty()) throw Error("--init is required (the source image)");
  if (inpaint_command && p.mask.empty())
    throw Error("--mask is required (the inpainting mask: white = repaint)");
  for (const char* dim : {"width", "height"})
    if (a.has(dim) && *a.integer(dim) <= 0)
      throw Error(std::string("--") + dim + " must be a positive number of pixels, got " + *a.get(dim));
  p.validate();
  canonical_sampler_name(p.sampler);  // an unknown sampler fails here, before the model loads
  if ((a.has("width") && p.width % 8 != 0) || (a.has("height") && p.height % 8 != 0))
    throw Error("--width and --height must be multiples of 8, got " + std::to_string(p.width) + "x" +
                std::to_string(p.height));

  // The output is checked before any work: a PNG (it carries the parameters text) in a folder that exists.
  const fs::path out_base = a.get_or("output", "output.png");
  {
    std::string ext = out_base.extension().string();
    for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (ext != ".png")
      throw Error("--output " + out_base.string() +
                  ": i2i writes PNG files (they carry the generation parameters); " + "use a .png name");
    fs::path dir = out_base.parent_path();
    if (!dir.empty() && !fs::is_directory(dir))
      throw Error("--output " + out_base.string() + ": no folder " + dir.string());
  }

  // The source image and, for inpainting, the work area.
  Image source = to_rgb(read_image(p.init_image));
  int width = p.width ? p.width : source.width / 8 * 8;
  int height = p.height ? p.height : source.height / 8 * 8;
  if (width < 8 || height < 8)
    throw Error(p.init_image + ": the image is " + std::to_string(source.width) + "x" +
                std::to_string(source.height) + ", smaller than the 8x8 minimum");
  const bool quiet = a.has("quiet");
  int next_name = 0;
  int64_t seed = p.seed;
  if (seed < 0) seed = std::random_device{}();
  std::optional<InpaintSetup> setup;
  if (!p.mask.empty()) {
    Image mask = read_mask(read_image(p.mask));
    if (mask.width != source.width || mask.height != source.height) {
      std::fprintf(
          stderr, "i2i %s: notice: the mask %s is %dx%d, the image %dx%d: the mask is resized to the image\n",
          command, p.mask.c_str(), mask.width, mask.height, source.width, source.height);
      mask = resize_image(ResizeMode::JustResize, mask, source.width, source.height);
    }
    if (mask_is_empty(process_mask(mask, p.mask_options))) {
      // Nothing to repaint: the output is the source (at the output size), and the run succeeds.
      Image same = p.mask_options.only_masked || (source.width == width && source.height == height)
                       ? source
                       : resize_image(p.resize_mode, source, width, height);
      const fs::path out = next_output(out_base, next_name, a.has("overwrite"));
      write_png(out, same, {{"parameters", format_parameters(make_infotext(p, seed, width, height, 0))}});
      std::fprintf(stderr,
                   "i2i %s: the mask %s is all black%s: nothing to do; the source is written unchanged\n",
                   command, p.mask.c_str(), p.mask_options.invert ? " (after --invert-mask)" : "");
      std::printf("%s (seed %lld)\n", out.c_str(), static_cast<long long>(seed));
      return 0;
    }
    setup = prepare_inpaint(source, mask, width, height, p.mask_options, p.resize_mode);
  } else if (width != source.width || height != source.height) {
    source = resize_image(p.resize_mode, source, width, height);
  }
  const Image& work = setup ? setup->work_image : source;

  SdModelOptions mo;
  mo.vae = p.vae;
  mo.tokenizer = a.get_or("tokenizer", "");
  if (auto v = a.get("model-config")) mo.checkpoint.model_config = *v;
  if (auto v = a.get("prediction")) mo.checkpoint.prediction = parse_prediction(*v);
  mo.precision = parse_precision(a.get_or("precision", "auto"));
  if (!quiet) std::fprintf(stderr, "loading %s\n", p.model.c_str());
  SdModel model = load_sd_model(p.model, mo);
  LoadedControls controls =
      load_controls(p, model, setup ? setup->base.width : width, setup ? setup->base.height : height,
                    setup ? &*setup : nullptr, quiet);

  std::vector<Tensor> replay;
  if (auto nf = a.get("noise-file")) {
    SafeTensors st = SafeTensors::open(*nf);
    for (const auto& name : st.names()) replay.push_back(st.get_f32(name).clone());
  }

  for (int batch = 0; batch < p.batch_count; ++batch) {
    Img2ImgRequest req;
    req.init_image = image_to_tensor(work);
    if (setup) {
      req.mask = mask_to_tensor(setup->work_mask);
      req.latent_fill = setup->latent_fill;
    }
    req.controls = controls.units;
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
        const auto image_seed = static_cast<uint64_t>(seed + batch * p.batch_size + k);
        if (p.rng == GenerationParams::Rng::Gpu)
          sources.push_back(std::make_unique<PhiloxGenerator>(image_seed));
        else
          sources.push_back(std::make_unique<TorchCpuGenerator>(image_seed));
        noise.push_back(sources.back().get());
      }
    }
    std::string label = p.batch_count > 1
                            ? "batch " + std::to_string(batch + 1) + "/" + std::to_string(p.batch_count)
                            : command;
    ProgressBar bar(label, quiet);
    Img2ImgResult r = run_img2img(model, req, noise, [&](const StepInfo& s) { bar.update(s.step, s.total); });
    bar.finish();
    for (int k = 0; k < p.batch_size; ++k) {
      const int64_t image_seed = seed + batch * p.batch_size + k;
      const fs::path out = next_output(out_base, next_name, a.has("overwrite"));
      std::string text = format_parameters(make_infotext(p, image_seed, width, height, k));
      Image picture = tensor_to_image(r.images, k);
      if (setup) picture = finish_inpaint(*setup, picture, p.composite);
      write_png(out, picture, {{"parameters", text}});
      std::printf("%s (seed %lld)\n", out.c_str(), static_cast<long long>(image_seed));
    }
  }
  return 0;
}

}  // namespace

int cmd_img2img(int argc, char** argv) {
  return run_generation(argc, argv, false);
}

int cmd_inpaint(int argc, char** argv) {
  return run_generation(argc, argv, true);
}

}  // namespace i2i::cli
