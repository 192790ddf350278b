// The C interface (include/i2i/i2i.h) over the C++ engine.
#include <cstdlib>
#include <cstring>
#include <memory>

#include "core/error.h"
#include "core/memory.h"
#include "i2i/i2i.h"
#include "pipelines/img2img.h"
#include "sampling/rng_torch.h"

struct i2i_model {
  i2i::SdModel model;
};

namespace {

void set_error(char** error, const char* message) {
  if (!error) return;
  *error = static_cast<char*>(std::malloc(std::strlen(message) + 1));
  if (*error) std::strcpy(*error, message);
}

}  // namespace

extern "C" {

const char* i2i_version(void) {
  return "0.1.0";
}

i2i_model* i2i_model_load(const char* path, const char* tokenizer_dir, char** error) {
  try {
    if (!path) throw i2i::Error("no model path given");
    i2i::init_runtime();  // malloc tuning, once per process (core/memory.h; I2I_NO_MALLOPT=1 opts out)
    i2i::SdModelOptions o;
    if (tokenizer_dir) o.tokenizer = tokenizer_dir;
    return new i2i_model{i2i::load_sd_model(path, o)};
  } catch (const std::exception& e) {
    set_error(error, e.what());
    return nullptr;
  }
}

void i2i_model_free(i2i_model* model) {
  delete model;
}

void i2i_img2img_defaults(i2i_img2img_params* p) {
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
    i2i::Image init(width, height, 3);
    std::memcpy(init.pixels.data(), rgb, init.pixels.size());
    i2i::Img2ImgRequest req;
    req.init_image = i2i::image_to_tensor(init);
    req.prompt = params->prompt ? params->prompt : "";
    req.negative_prompt = params->negative_prompt ? params->negative_prompt : "";
    req.strength = params->strength;
    req.steps = params->steps;
    req.cfg_scale = params->cfg_scale;
    req.sampler = params->sampler ? params->sampler : "Euler a";
    req.prompt_options.clip_skip = params->clip_skip;
    i2i::TorchCpuGenerator gen(static_cast<uint64_t>(params->seed));
    i2i::Img2ImgResult r = i2i::run_img2img(model->model, req, {&gen});
    i2i::Image out = i2i::tensor_to_image(r.images, 0);
    std::memcpy(out_rgb, out.pixels.data(), out.pixels.size());
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
