// The C interface (include/i2i/i2i.h) over generate() (pipelines/generation.h): C structs in, a
// GenerationRequest through, C-owned results out. Exceptions never cross the boundary.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>

#include "core/error.h"
#include "core/memory.h"
#include "i2i/i2i.h"
#include "pipelines/generation.h"
#include "pipelines/inpaint.h"
#include "sampling/scheduler.h"

struct i2i_model {
  std::unique_ptr<i2i::ModelSet> set;
  std::string models_dir;  // i2i_model_options.models_dir: the default of its generations
};

namespace {

void set_error(char** error, const char* message) {
  if (!error) return;
  *error = static_cast<char*>(std::malloc(std::strlen(message) + 1));
  if (*error) std::strcpy(*error, message);
}

char* copy_string(const std::string& s) {
  char* out = static_cast<char*>(std::malloc(s.size() + 1));
  if (!out) throw std::bad_alloc();
  std::memcpy(out, s.c_str(), s.size() + 1);
  return out;
}

std::string str(const char* s, const char* fallback = "") {
  return s ? s : fallback;
}

// A caller's picture as an Image (copied), or nothing when its pixels are NULL.
std::optional<i2i::Image> image_of(const i2i_image& img, const char* what) {
  if (!img.pixels) return std::nullopt;
  if (img.width <= 0 || img.height <= 0 || img.width > i2i::kMaxGenerationSide * 4 ||
      img.height > i2i::kMaxGenerationSide * 4 ||
      (img.channels != 1 && img.channels != 3 && img.channels != 4))
    throw i2i::Error(std::string(what) + ": expected 1, 3 or 4 channels and a sensible size, got " +
                     std::to_string(img.width) + "x" + std::to_string(img.height) + "x" +
                     std::to_string(img.channels));
  i2i::Image out(img.width, img.height, img.channels);
  std::memcpy(out.pixels.data(), img.pixels, out.pixels.size());
  return out;
}

// An SDXL size given as width and height: 0 x 0 is unset (the default), one of them 0 is an error.
std::optional<i2i::PairXY> size_of(int w, int h, const char* what) {
  if (w == 0 && h == 0) return std::nullopt;
  if (w <= 0 || h <= 0)
    throw i2i::ParameterError(std::string(what) +
                              ": width and height must both be positive, or both 0 (unset)");
  return i2i::PairXY{w, h};
}

// The options past infotext_paths onto the request (GenerationParams::validate checks the values).
void apply_options(const i2i_generation_options& o, i2i::GenerationParams& p) {
  p.infotext_paths = o.infotext_paths != 0;
  p.models_dir = str(o.models_dir);
  p.lora_dir = str(o.lora_dir);
  p.embeddings_dir = str(o.embeddings_dir);
  if (o.n_loras < 0 || (o.n_loras > 0 && !o.loras))
    throw i2i::ParameterError("i2i_generation_options: loras is NULL or n_loras is negative");
  for (int i = 0; i < o.n_loras; ++i) {
    const i2i_lora& l = o.loras[i];
    if (!l.path || !*l.path) throw i2i::ParameterError("LoRA " + std::to_string(i) + ": no path");
    p.loras.push_back({l.path, l.te_multiplier, l.unet_multiplier});
  }
  p.original_size = size_of(o.original_width, o.original_height, "original size");
  p.target_size = size_of(o.target_width, o.target_height, "target size");
  p.negative_original_size =
      size_of(o.negative_original_width, o.negative_original_height, "negative original size");
  p.negative_target_size = size_of(o.negative_target_width, o.negative_target_height, "negative target size");
  p.crops_top_left = {o.crops_left, o.crops_top};
  p.negative_crops_top_left = {o.negative_crops_left, o.negative_crops_top};
  p.aesthetic_score = o.aesthetic_score;
  p.negative_aesthetic_score = o.negative_aesthetic_score;
  p.refiner = str(o.refiner);
  p.refiner_switch_at = o.refiner_switch_at;
  if (o.n_control_annotators < 0 || (o.n_control_annotators > 0 && !o.control_annotators) ||
      static_cast<size_t>(o.n_control_annotators) > p.controls.size())
    throw i2i::ParameterError(
        "i2i_generation_options: control_annotators is NULL, or n_control_annotators is negative or more "
        "than n_controls");
  for (int i = 0; i < o.n_control_annotators; ++i) {
    const i2i_control_annotator& a = o.control_annotators[i];
    i2i::ControlParams& c = p.controls[static_cast<size_t>(i)];
    c.annotator_model = str(a.model);
    if (a.resolution != 0) c.resolution = a.resolution;
  }
}

i2i::ControlParams control_of(const i2i_control_unit& u) {
  i2i::ControlParams c;
  c.model = str(u.model_path);
  c.image = str(u.image_path);
  c.preprocess = str(u.preprocess, "none");
  c.canny_low = u.canny_low;
  c.canny_high = u.canny_high;
  c.weight = u.weight;
  c.guidance_start = u.guidance_start;
  c.guidance_end = u.guidance_end;
  return c;
}

i2i::GenerationParams params_of(const i2i_generation_params& p) {
  i2i::GenerationParams g;
  g.prompt = str(p.prompt);
  g.negative_prompt = str(p.negative_prompt);
  g.init_image = str(p.init_path);
  g.strength = p.strength;
  g.steps = p.steps;
  g.cfg_scale = p.cfg_scale;
  g.sampler = str(p.sampler, "Euler a");
  g.schedule = str(p.schedule);
  g.seed = p.seed;
  if (p.rng != I2I_RNG_CPU && p.rng != I2I_RNG_GPU)
    throw i2i::ParameterError("{rng} must be 0 (cpu) or 1 (gpu)");
  if (p.resize_mode < I2I_RESIZE_JUST || p.resize_mode > I2I_RESIZE_FILL)
    throw i2i::ParameterError("{resize_mode} must be 0, 1 or 2");
  g.rng = p.rng == I2I_RNG_GPU ? i2i::GenerationParams::Rng::Gpu : i2i::GenerationParams::Rng::Cpu;
  g.width = p.width;
  g.height = p.height;
  g.resize_mode = p.resize_mode == I2I_RESIZE_CROP   ? i2i::ResizeMode::CropAndResize
                  : p.resize_mode == I2I_RESIZE_FILL ? i2i::ResizeMode::ResizeAndFill
                                                     : i2i::ResizeMode::JustResize;
  g.clip_skip = p.clip_skip;
  g.emphasis = p.emphasis != 0;
  g.batch_size = p.batch_size;
  g.batch_count = p.batch_count;
  g.mask = str(p.mask_path);
  g.mask_options.blur = p.mask_blur;
  g.mask_options.invert = p.invert_mask != 0;
  static const i2i::MaskedContent contents[] = {i2i::MaskedContent::Original, i2i::MaskedContent::Fill,
                                                i2i::MaskedContent::LatentNoise,
                                                i2i::MaskedContent::LatentNothing};
  if (p.masked_content < 0 || p.masked_content > 3)
    throw i2i::ParameterError("{masked_content} must be 0..3");
  g.mask_options.content = contents[p.masked_content];
  g.mask_options.only_masked = p.only_masked != 0;
  g.mask_options.padding = p.padding;
  g.composite = p.composite != 0;
  if (p.n_controls < 0 || p.n_controls > 16 || (p.n_controls > 0 && !p.controls))
    throw i2i::ParameterError("{n_controls} must be 0..16 with {controls} pointing at that many units");
  for (int i = 0; i < p.n_controls; ++i) g.controls.push_back(control_of(p.controls[i]));
  return g;
}

i2i::GenerationRequest request_of(const i2i_generation_params& p) {
  i2i::GenerationRequest req;
  req.params = params_of(p);
  req.images.init = image_of(p.init, "init");
  req.images.mask = image_of(p.mask, "mask");
  for (int i = 0; i < p.n_controls; ++i)
    req.images.controls.push_back(image_of(p.controls[i].image, "control"));
  if (p.progress) {
    req.progress = [&p](const i2i::GenerationProgress& s) {
      i2i_progress info{s.step, s.steps, s.batch, s.batches, {nullptr, 0, 0, 0}};
      i2i::Image preview;
      if (p.preview && s.latents) {
        preview = i2i::preview_image(*s.latents, 0);
        info.preview = {preview.pixels.data(), preview.width, preview.height, 3};
      }
      return p.progress(&info, p.progress_user_data) != 0;
    };
  }
  return req;
}

i2i_result* result_of(const i2i::GenerationResult& r) {
  auto* out = static_cast<i2i_result*>(std::calloc(1, sizeof(i2i_result)));
  if (!out) throw std::bad_alloc();
  out->images = static_cast<i2i_output_image*>(std::calloc(r.images.size() + 1, sizeof(i2i_output_image)));
  if (!out->images) {
    std::free(out);
    throw std::bad_alloc();
  }
  out->nothing_to_repaint = r.nothing_to_repaint ? 1 : 0;
  try {
    for (const i2i::GeneratedImage& g : r.images) {
      i2i_output_image& o = out->images[out->n_images];
      o.pixels = static_cast<uint8_t*>(std::malloc(g.image.pixels.size()));
      if (!o.pixels) throw std::bad_alloc();
      std::memcpy(o.pixels, g.image.pixels.data(), g.image.pixels.size());
      ++out->n_images;
      o.width = g.image.width;
      o.height = g.image.height;
      o.seed = g.seed;
      o.parameters = copy_string(g.parameters);
    }
  } catch (...) {
    i2i_result_free(out);
    throw;
  }
  return out;
}

}  // namespace

extern "C" {

const char* i2i_version(void) {
  return I2I_VERSION_STRING;
}

void i2i_model_defaults(i2i_model_params* p) {
  if (!p) return;
  *p = i2i_model_params{};
  p->precision = "auto";
}

i2i_model* i2i_model_load_with(const char* path, const i2i_model_params* params, char** error) {
  return i2i_model_load_with_options(path, params, nullptr, error);
}

void i2i_model_options_defaults(i2i_model_options* o) {
  if (!o) return;
  *o = i2i_model_options{};
  o->size = sizeof(i2i_model_options);
}

i2i_model* i2i_model_load_with_options(const char* path, const i2i_model_params* params,
                                       const i2i_model_options* options, char** error) {
  try {
    if (!path) throw i2i::Error("no model path given");
    // The caller's struct may be older (shorter) than this library's: only its `size` bytes are read.
    i2i_model_options mo;
    i2i_model_options_defaults(&mo);
    if (options) {
      if (options->size < sizeof(size_t))
        throw i2i::Error(
            "i2i_model_load_with_options: options->size is not set (use i2i_model_options_defaults)");
      std::memcpy(&mo, options, std::min(options->size, sizeof mo));
      mo.size = sizeof mo;
    }
    i2i::init_runtime();  // malloc tuning, once per process (core/memory.h; I2I_NO_MALLOPT=1 opts out)
    i2i_model_params defaults;
    i2i_model_defaults(&defaults);
    const i2i_model_params& p = params ? *params : defaults;
    i2i::SdModelOptions o;
    if (p.tokenizer_dir) o.tokenizer = p.tokenizer_dir;
    if (p.vae) o.vae = p.vae;
    if (p.model_config) o.checkpoint.model_config = p.model_config;
    o.precision = i2i::parse_precision(str(p.precision, "auto"));
    o.models_dir = str(mo.models_dir);
    return new i2i_model{i2i::ModelSet::load(path, o), o.models_dir};
  } catch (const std::exception& e) {
    set_error(error, e.what());
    return nullptr;
  }
}

i2i_model* i2i_model_load(const char* path, const char* tokenizer_dir, char** error) {
  i2i_model_params p;
  i2i_model_defaults(&p);
  p.tokenizer_dir = tokenizer_dir;
  return i2i_model_load_with(path, &p, error);
}

void i2i_model_free(i2i_model* model) {
  delete model;
}

void i2i_control_unit_defaults(i2i_control_unit* u) {
  if (!u) return;
  *u = i2i_control_unit{};
  u->preprocess = "none";
  u->canny_low = 100;
  u->canny_high = 200;
  u->weight = 1.0;
  u->guidance_end = 1.0;
}

void i2i_generation_defaults(i2i_generation_params* p) {
  if (!p) return;
  *p = i2i_generation_params{};
  const i2i::GenerationParams g;
  const i2i::MaskOptions m;
  p->prompt = "";
  p->strength = g.strength;
  p->steps = g.steps;
  p->cfg_scale = g.cfg_scale;
  p->sampler = "Euler a";
  p->seed = -1;
  p->clip_skip = g.clip_skip;
  p->emphasis = 1;
  p->batch_size = g.batch_size;
  p->batch_count = g.batch_count;
  p->mask_blur = m.blur;
  p->padding = m.padding;
  p->composite = 1;
}

void i2i_generation_options_defaults(i2i_generation_options* o) {
  if (!o) return;
  const i2i::GenerationParams g;
  *o = i2i_generation_options{};
  o->size = sizeof(i2i_generation_options);
  o->aesthetic_score = g.aesthetic_score;
  o->negative_aesthetic_score = g.negative_aesthetic_score;
  o->refiner_switch_at = g.refiner_switch_at;
}

i2i_status i2i_generate(i2i_model* model, const i2i_generation_params* params, i2i_result** result,
                        char** error) {
  return i2i_generate_with(model, params, nullptr, result, error);
}

i2i_status i2i_generate_with(i2i_model* model, const i2i_generation_params* params,
                             const i2i_generation_options* options, i2i_result** result, char** error) {
  if (result) *result = nullptr;
  try {
    if (!model || !params || !result) throw i2i::Error("i2i_generate: a required argument is NULL");
    // The caller's struct may be older (shorter) than this library's: only its `size` bytes are read.
    i2i_generation_options o;
    i2i_generation_options_defaults(&o);
    if (options) {
      if (options->size < sizeof(size_t))
        throw i2i::Error("i2i_generate_with: options->size is not set (use i2i_generation_options_defaults)");
      std::memcpy(&o, options, std::min(options->size, sizeof o));
      o.size = sizeof o;
    }
    i2i::GenerationRequest req = request_of(*params);
    apply_options(o, req.params);
    if (!o.models_dir) req.params.models_dir = model->models_dir;
    const i2i::GenerationResult r = i2i::generate(*model->set, req);
    *result = result_of(r);
    return I2I_OK;
  } catch (const i2i::Cancelled&) {
    set_error(error, "cancelled");
    return I2I_CANCELLED;
  } catch (const std::exception& e) {
    set_error(error, e.what());
    return I2I_ERROR;
  }
}

void i2i_result_free(i2i_result* r) {
  if (!r) return;
  for (int i = 0; i < r->n_images; ++i) {
    std::free(r->images[i].pixels);
    std::free(r->images[i].parameters);
  }
  std::free(r->images);
  std::free(r);
}

i2i_status i2i_write_png(const char* path, const i2i_output_image* image, char** error) {
  try {
    if (!path || !image || !image->pixels) throw i2i::Error("i2i_write_png: a required argument is NULL");
    i2i::Image img(image->width, image->height, 3);
    std::memcpy(img.pixels.data(), image->pixels, img.pixels.size());
    std::vector<std::pair<std::string, std::string>> text;
    if (image->parameters) text.emplace_back("parameters", image->parameters);
    i2i::write_png(path, img, text);
    return I2I_OK;
  } catch (const std::exception& e) {
    set_error(error, e.what());
    return I2I_ERROR;
  }
}

const char* i2i_sampler_name(int index) {
  static const std::vector<std::string> names = i2i::sampler_names();
  return index >= 0 && static_cast<size_t>(index) < names.size() ? names[static_cast<size_t>(index)].c_str()
                                                                 : nullptr;
}

void i2i_img2img_defaults(i2i_img2img_params* p) {
  if (!p) return;
  *p = i2i_img2img_params{};
  p->prompt = "";
  p->strength = 0.75;
  p->steps = 20;
  p->cfg_scale = 7.0;
  p->sampler = "Euler a";
  p->clip_skip = 1;
}

int i2i_img2img(const i2i_model* model, const uint8_t* rgb, int width, int height,
                const i2i_img2img_params* params, uint8_t* out_rgb, char** error) {
  try {
    if (!model || !rgb || !params || !out_rgb) throw i2i::Error("i2i_img2img: a required argument is NULL");
    if (width <= 0 || height <= 0 || width % 8 || height % 8)
      throw i2i::Error("image size " + std::to_string(width) + "x" + std::to_string(height) +
                       " must be positive multiples of 8");
    i2i_generation_params p;
    i2i_generation_defaults(&p);
    p.prompt = params->prompt;
    p.negative_prompt = params->negative_prompt;
    p.strength = params->strength;
    p.steps = params->steps;
    p.cfg_scale = params->cfg_scale;
    p.sampler = params->sampler;
    p.seed = params->seed;
    p.clip_skip = params->clip_skip;
    p.init = {rgb, width, height, 3};
    const i2i::GenerationResult r = i2i::generate(*model->set, request_of(p));
    std::memcpy(out_rgb, r.images.at(0).image.pixels.data(), static_cast<size_t>(width) * height * 3);
    return 0;
  } catch (const std::exception& e) {
    set_error(error, e.what());
    return 1;
  }
}

void i2i_free_error(char* error) {
  std::free(error);
}

}  // extern "C"
