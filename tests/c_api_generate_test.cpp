// The C API's generate path (i2i_generate) on the tiny fixture model: the fixture's picture from memory
// and from paths, batches and seeds, progress with previews, cancelling, and errors as status codes.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "i2i/i2i.h"
#include "io/image.h"
#include "support/fixtures.h"

namespace {
namespace fs = std::filesystem;

std::string fx(const std::string& rel) {
  return (i2i::test::fixtures_dir() / rel).string();
}

i2i_model* tiny_model() {
  static i2i_model* m = [] {
    i2i_model_params mp;
    i2i_model_defaults(&mp);
    static const std::string tok = fx("tokenizer");
    mp.tokenizer_dir = tok.c_str();
    mp.precision = "fp32";
    char* err = nullptr;
    i2i_model* model = i2i_model_load_with(fx("models/tiny-sd15.safetensors").c_str(), &mp, &err);
    EXPECT_NE(model, nullptr) << (err ? err : "");
    return model;
  }();
  return m;
}

// The fixtures' sd15_img2img_DDIM_s0.6 case.
i2i_generation_params ddim_case() {
  i2i_generation_params p;
  i2i_generation_defaults(&p);
  p.prompt = "a photograph of an astronaut riding a horse, highly detailed";
  p.negative_prompt = "blurry, low quality, watermark";
  p.strength = 0.6;
  p.steps = 10;
  p.cfg_scale = 7.5;
  p.sampler = "DDIM";
  p.seed = 1234;
  return p;
}

int worst_difference(const i2i_output_image& got, const i2i::Image& want) {
  EXPECT_EQ(got.width, want.width);
  EXPECT_EQ(got.height, want.height);
  int worst = 0;
  for (size_t i = 0; i < want.pixels.size(); ++i)
    worst = std::max(worst, std::abs(int(got.pixels[i]) - int(want.pixels[i])));
  return worst;
}

TEST(CApiGenerate, MatchesTheFixtureFromMemoryAndFromPaths) {
  const i2i::Image init = i2i::read_image(fx("cases/inputs/astronaut_64.png"));
  const i2i::Image want = i2i::read_image(fx("cases/pipelines/sd15_img2img_DDIM_s0.6.png"));
  const std::string init_path = fx("cases/inputs/astronaut_64.png");
  i2i_generation_params p = ddim_case();
  p.init = {init.pixels.data(), init.width, init.height, init.channels};
  i2i_result* from_memory = nullptr;
  char* err = nullptr;
  ASSERT_EQ(i2i_generate(tiny_model(), &p, &from_memory, &err), I2I_OK) << err;
  ASSERT_EQ(from_memory->n_images, 1);
  EXPECT_LE(worst_difference(from_memory->images[0], want), 1);  // the fixtures' PNG tolerance
  EXPECT_EQ(from_memory->images[0].seed, 1234);
  const std::string text = from_memory->images[0].parameters;
  EXPECT_NE(text.find("Sampler: DDIM"), std::string::npos) << text;
  EXPECT_NE(text.find("Denoising strength: 0.6"), std::string::npos) << text;
  EXPECT_EQ(text.find("Init image"), std::string::npos) << "no path was given: " << text;

  p.init = {};
  p.init_path = init_path.c_str();
  i2i_result* from_path = nullptr;
  ASSERT_EQ(i2i_generate(tiny_model(), &p, &from_path, &err), I2I_OK) << err;
  EXPECT_EQ(0, std::memcmp(from_path->images[0].pixels, from_memory->images[0].pixels, 64 * 64 * 3));
  // The text records no path by default, only the model's name and hash; with the options' infotext_paths
  // it records the init image's path.
  const std::string path_text = from_path->images[0].parameters;
  EXPECT_EQ(path_text.find('/'), std::string::npos) << path_text;
  EXPECT_NE(path_text.find("Model hash: "), std::string::npos) << path_text;
  i2i_generation_options o;
  i2i_generation_options_defaults(&o);
  EXPECT_EQ(o.size, sizeof o);
  EXPECT_EQ(o.infotext_paths, 0);
  o.infotext_paths = 1;
  i2i_result* with_paths = nullptr;
  ASSERT_EQ(i2i_generate_with(tiny_model(), &p, &o, &with_paths, &err), I2I_OK) << err;
  EXPECT_NE(std::string(with_paths->images[0].parameters).find("Init image: " + init_path),
            std::string::npos);
  // An older caller's options struct, shorter than this one (no infotext_paths): the default is used.
  o.size = offsetof(i2i_generation_options, infotext_paths);
  i2i_result* older = nullptr;
  ASSERT_EQ(i2i_generate_with(tiny_model(), &p, &o, &older, &err), I2I_OK) << err;
  EXPECT_EQ(std::string(older->images[0].parameters), path_text);
  o.size = 0;
  i2i_result* unset = nullptr;
  EXPECT_EQ(i2i_generate_with(tiny_model(), &p, &o, &unset, &err), I2I_ERROR);
  EXPECT_NE(std::string(err).find("size"), std::string::npos) << err;
  i2i_free_error(err);
  err = nullptr;
  i2i_result_free(from_memory);
  i2i_result_free(from_path);
  i2i_result_free(with_paths);
  i2i_result_free(older);
}

TEST(CApiGenerate, BatchesCarryTheirSeedsAndEachImageIsItsSeedAlone) {
  i2i_generation_params p = ddim_case();
  const std::string init = fx("cases/inputs/astronaut_64.png");
  p.init_path = init.c_str();
  p.steps = 4;
  p.strength = 1.0;
  p.batch_size = 2;
  p.batch_count = 2;
  p.seed = 77;
  i2i_result* r = nullptr;
  char* err = nullptr;
  ASSERT_EQ(i2i_generate(tiny_model(), &p, &r, &err), I2I_OK) << err;
  ASSERT_EQ(r->n_images, 4);
  for (int k = 0; k < 4; ++k) EXPECT_EQ(r->images[k].seed, 77 + k);
  p.batch_size = p.batch_count = 1;
  p.seed = 79;
  i2i_result* alone = nullptr;
  ASSERT_EQ(i2i_generate(tiny_model(), &p, &alone, &err), I2I_OK) << err;
  EXPECT_EQ(0, std::memcmp(alone->images[0].pixels, r->images[2].pixels, 64 * 64 * 3));
  EXPECT_NE(0, std::memcmp(r->images[0].pixels, r->images[1].pixels, 64 * 64 * 3));
  i2i_result_free(r);
  i2i_result_free(alone);
}

struct Seen {
  std::vector<int> steps;
  int stop_at = 0;
  bool previews_ok = true;
};

int record(const i2i_progress* p, void* user) {
  auto* s = static_cast<Seen*>(user);
  s->steps.push_back(p->step);
  if (!p->preview.pixels || p->preview.width != 8 || p->preview.height != 8 || p->preview.channels != 3)
    s->previews_ok = false;
  return s->stop_at == 0 || p->step < s->stop_at;
}

TEST(CApiGenerate, ProgressPreviewsAndCancel) {
  i2i_generation_params p = ddim_case();
  const std::string init = fx("cases/inputs/astronaut_64.png");
  p.init_path = init.c_str();
  p.preview = 1;
  p.progress = record;
  Seen all;
  p.progress_user_data = &all;
  i2i_result* first = nullptr;
  char* err = nullptr;
  ASSERT_EQ(i2i_generate(tiny_model(), &p, &first, &err), I2I_OK) << err;
  EXPECT_EQ(all.steps, (std::vector<int>{1, 2, 3, 4, 5, 6}));  // int(10 x 0.6) steps
  EXPECT_TRUE(all.previews_ok);

  Seen stopped;
  stopped.stop_at = 3;
  p.progress_user_data = &stopped;
  i2i_result* none = reinterpret_cast<i2i_result*>(&stopped);  // must be reset to NULL
  EXPECT_EQ(i2i_generate(tiny_model(), &p, &none, &err), I2I_CANCELLED);
  EXPECT_EQ(none, nullptr);
  EXPECT_EQ(stopped.steps, (std::vector<int>{1, 2, 3}));
  ASSERT_NE(err, nullptr);
  EXPECT_STREQ(err, "cancelled");
  i2i_free_error(err);
  err = nullptr;

  // The model is still usable and gives the same picture again.
  Seen again;
  p.progress_user_data = &again;
  i2i_result* second = nullptr;
  ASSERT_EQ(i2i_generate(tiny_model(), &p, &second, &err), I2I_OK) << err;
  EXPECT_EQ(0, std::memcmp(first->images[0].pixels, second->images[0].pixels, 64 * 64 * 3));
  i2i_result_free(first);
  i2i_result_free(second);
}

TEST(CApiGenerate, ErrorsAreStatusCodesWithOneLine) {
  i2i_generation_params p = ddim_case();
  const std::string init = fx("cases/inputs/astronaut_64.png");
  p.init_path = init.c_str();
  p.strength = 1.5;
  i2i_result* r = nullptr;
  char* err = nullptr;
  EXPECT_EQ(i2i_generate(tiny_model(), &p, &r, &err), I2I_ERROR);
  ASSERT_NE(err, nullptr);
  EXPECT_NE(std::string(err).find("strength must be between 0 and 1"), std::string::npos) << err;
  EXPECT_EQ(std::string(err).find('\n'), std::string::npos);
  i2i_free_error(err);
  err = nullptr;
  EXPECT_EQ(r, nullptr);

  p = ddim_case();  // txt2img without a size
  EXPECT_EQ(i2i_generate(tiny_model(), &p, &r, &err), I2I_ERROR);
  ASSERT_NE(err, nullptr);
  EXPECT_NE(std::string(err).find("width"), std::string::npos) << err;
  i2i_free_error(err);
  err = nullptr;

  const uint8_t pixel[3] = {0, 0, 0};
  p.init = {pixel, 1, 1, 2};  // two channels
  EXPECT_EQ(i2i_generate(tiny_model(), &p, &r, &err), I2I_ERROR);
  i2i_free_error(err);
  err = nullptr;
  EXPECT_EQ(i2i_generate(nullptr, &p, &r, &err), I2I_ERROR);
  i2i_free_error(err);
  EXPECT_EQ(i2i_generate(tiny_model(), nullptr, &r, nullptr), I2I_ERROR);
}

TEST(CApiGenerate, Txt2ImgAndSamplerNames) {
  i2i_generation_params p = ddim_case();
  p.width = 64;
  p.height = 48;
  p.steps = 3;
  i2i_result* r = nullptr;
  char* err = nullptr;
  ASSERT_EQ(i2i_generate(tiny_model(), &p, &r, &err), I2I_OK) << err;
  EXPECT_EQ(r->images[0].width, 64);
  EXPECT_EQ(r->images[0].height, 48);
  EXPECT_EQ(std::string(r->images[0].parameters).find("Denoising strength"), std::string::npos);
  i2i_result_free(r);

  int n = 0;
  while (i2i_sampler_name(n)) ++n;
  EXPECT_GE(n, 13);
  EXPECT_STREQ(i2i_sampler_name(0), "DDIM");
  EXPECT_EQ(i2i_sampler_name(-1), nullptr);
}

}  // namespace

// `p` with `o` on the picture `init` gives the fixture picture `png` (within the PNG tolerance).
void expect_case_picture(i2i_model* model, i2i_generation_params p, const i2i_generation_options* o,
                         const std::string& init, const std::string& png) {
  const std::string init_path = fx(init);
  p.init_path = init_path.c_str();
  i2i_result* r = nullptr;
  char* err = nullptr;
  ASSERT_EQ(i2i_generate_with(model, &p, o, &r, &err), I2I_OK) << err;
  ASSERT_EQ(r->n_images, 1);
  EXPECT_LE(worst_difference(r->images[0], i2i::read_image(fx(png))), 1) << png;
  i2i_result_free(r);
}

// cases/lora.json's LoRA cases through the options: a LoRA by file with separate text-encoder and UNet
// multipliers, and a <lora:NAME:MULT> tag found in the options' LoRA folder.
TEST(CApiGenerate, LorasByFileAndByTagInTheLoraFolder) {
  i2i_generation_params p = ddim_case();
  p.prompt = "a photograph of an astronaut riding a horse, , highly detailed";  // the tag removed
  const std::string style = fx("models/loras/tiny-style.safetensors");
  const i2i_lora lora = {style.c_str(), 0.3, 0.9};
  i2i_generation_options o;
  i2i_generation_options_defaults(&o);
  o.loras = &lora;
  o.n_loras = 1;
  expect_case_picture(tiny_model(), p, &o, "cases/lora/inputs/astronaut_64.png",
                      "cases/lora/pipelines/sd15_lora_kohya_te0.3_unet0.9_DDIM_s0.6.png");

  p = ddim_case();
  p.prompt = "<lora:tiny-style:1> a photograph of an astronaut riding a horse, highly detailed";
  p.sampler = "Euler a";
  const std::string dir = fx("models/loras");
  i2i_generation_options_defaults(&o);
  o.lora_dir = dir.c_str();
  expect_case_picture(tiny_model(), p, &o, "cases/lora/inputs/astronaut_64.png",
                      "cases/lora/pipelines/sd15_lora_kohya_m1.0_Euler_a_s0.6.png");

  // Bad LoRA options are one-line errors.
  i2i_generation_options_defaults(&o);
  o.n_loras = 1;  // loras NULL
  i2i_result* r = nullptr;
  char* err = nullptr;
  EXPECT_EQ(i2i_generate_with(tiny_model(), &p, &o, &r, &err), I2I_ERROR);
  EXPECT_NE(std::string(err).find("loras"), std::string::npos) << err;
  i2i_free_error(err);
  err = nullptr;
  const i2i_lora huge = {style.c_str(), 1e30, 1};
  o.loras = &huge;
  EXPECT_EQ(i2i_generate_with(tiny_model(), &p, &o, &r, &err), I2I_ERROR);
  EXPECT_NE(std::string(err).find("multiplier"), std::string::npos) << err;
  i2i_free_error(err);
}

// cases/sdxl.json's size and refiner cases through the options (diffusers' (height, width) tuples as the
// options' width and height).
TEST(CApiGenerate, SdxlSizeAndAestheticOptions) {
  i2i_model_params mp;
  i2i_model_defaults(&mp);
  const std::string tok = fx("tokenizer");
  mp.tokenizer_dir = tok.c_str();
  mp.precision = "fp32";
  char* err = nullptr;
  i2i_model* base = i2i_model_load_with(fx("models/tiny-sdxl.fp16.safetensors").c_str(), &mp, &err);
  ASSERT_NE(base, nullptr) << err;
  i2i_generation_params p = ddim_case();
  p.sampler = "Euler a";
  i2i_generation_options o;
  i2i_generation_options_defaults(&o);
  EXPECT_EQ(o.aesthetic_score, 6.0);
  EXPECT_EQ(o.negative_aesthetic_score, 2.5);
  EXPECT_EQ(o.refiner_switch_at, 0.8);
  o.original_width = 96, o.original_height = 128;
  o.crops_left = 8, o.crops_top = 16;
  o.target_width = 64, o.target_height = 64;
  expect_case_picture(base, p, &o, "cases/sdxl/inputs/astronaut_64.png",
                      "cases/sdxl/pipelines/sdxl_img2img_sizes_Euler_a_s0.6.png");
  // Half a size is an error naming it; an older, shorter options struct leaves the SDXL fields default.
  o.target_height = 0;
  i2i_result* r = nullptr;
  EXPECT_EQ(i2i_generate_with(base, &p, &o, &r, &err), I2I_ERROR);
  EXPECT_NE(std::string(err).find("target size"), std::string::npos) << err;
  i2i_free_error(err);
  err = nullptr;
  const std::string init = fx("cases/sdxl/inputs/astronaut_64.png");
  p.init_path = init.c_str();
  i2i_result* plain = nullptr;
  ASSERT_EQ(i2i_generate(base, &p, &plain, &err), I2I_OK) << err;
  o.size = offsetof(i2i_generation_options, models_dir);
  i2i_result* older = nullptr;
  ASSERT_EQ(i2i_generate_with(base, &p, &o, &older, &err), I2I_OK) << err;
  EXPECT_EQ(0, std::memcmp(plain->images[0].pixels, older->images[0].pixels, 64 * 64 * 3));
  EXPECT_EQ(std::string(plain->images[0].parameters), older->images[0].parameters);
  i2i_result_free(plain);
  i2i_result_free(older);
  i2i_model_free(base);

  i2i_model* refiner = i2i_model_load_with(fx("models/tiny-sdxl-refiner").c_str(), &mp, &err);
  ASSERT_NE(refiner, nullptr) << err;
  i2i_generation_options_defaults(&o);
  o.aesthetic_score = 7, o.negative_aesthetic_score = 2;
  o.original_width = 128, o.original_height = 96;
  o.crops_left = 8, o.crops_top = 0;
  o.negative_original_width = 64, o.negative_original_height = 64;
  o.negative_crops_left = 2, o.negative_crops_top = 2;
  expect_case_picture(refiner, p, &o, "cases/sdxl/inputs/astronaut_64.png",
                      "cases/sdxl/pipelines/sdxl_refiner_img2img_Euler_a_s0.6_aes7.0_2.0.png");
  i2i_model_free(refiner);
}

// A ControlNet unit whose preprocessor runs a network (Depth Anything V2) takes its annotator file and
// Processor Res from the options, by unit index.
TEST(CApiGenerate, ControlAnnotatorsFromTheOptions) {
  i2i_generation_params p = ddim_case();
  const std::string init = fx("cases/inputs/astronaut_64.png");
  const std::string controlnet = fx("models/tiny-controlnet-sd15.safetensors");
  const std::string depth = fx("models/annotators/tiny-depth-anything-v2.safetensors");
  p.init_path = init.c_str();
  i2i_control_unit unit;
  i2i_control_unit_defaults(&unit);
  unit.model_path = controlnet.c_str();
  unit.image_path = init.c_str();
  unit.preprocess = "depth_anything_v2";
  p.controls = &unit;
  p.n_controls = 1;
  i2i_result* r = nullptr;
  char* err = nullptr;
  EXPECT_EQ(i2i_generate(tiny_model(), &p, &r, &err), I2I_ERROR);  // no annotator
  EXPECT_NE(std::string(err).find("annotator"), std::string::npos) << err;
  i2i_free_error(err);
  err = nullptr;

  i2i_control_annotator annotators[2] = {{depth.c_str(), 96}, {depth.c_str(), 0}};
  i2i_generation_options o;
  i2i_generation_options_defaults(&o);
  o.control_annotators = annotators;
  o.n_control_annotators = 2;  // more than the units
  EXPECT_EQ(i2i_generate_with(tiny_model(), &p, &o, &r, &err), I2I_ERROR);
  EXPECT_NE(std::string(err).find("n_control_annotators"), std::string::npos) << err;
  i2i_free_error(err);
  err = nullptr;

  o.n_control_annotators = 1;
  i2i_result* at96 = nullptr;
  ASSERT_EQ(i2i_generate_with(tiny_model(), &p, &o, &at96, &err), I2I_OK) << err;
  const std::string text = at96->images[0].parameters;
  EXPECT_NE(text.find("Module: depth_anything_v2"), std::string::npos) << text;
  EXPECT_NE(text.find("Processor Res: 96"), std::string::npos) << text;
  annotators[0].resolution = 0;  // the default, 512
  i2i_result* at512 = nullptr;
  ASSERT_EQ(i2i_generate_with(tiny_model(), &p, &o, &at512, &err), I2I_OK) << err;
  EXPECT_NE(std::string(at512->images[0].parameters).find("Processor Res: 512"), std::string::npos);
  EXPECT_NE(0, std::memcmp(at96->images[0].pixels, at512->images[0].pixels, 64 * 64 * 3));
  i2i_result_free(at96);
  i2i_result_free(at512);
}

// Models by name (i2i_model_options.models_dir): the checkpoint, and for the model's generations the
// ControlNet and the annotator, from an A1111-layout models folder; the same picture as with paths.
TEST(CApiGenerate, ModelsByNameFromTheModelsFolder) {
  const fs::path root = i2i::test::temp_dir("c_api_models_dir") / "models";
  const auto link = [](const std::string& target, const fs::path& at) {
    fs::create_directories(at.parent_path());
    fs::create_symlink(target, at);
  };
  const std::string controlnet = fx("models/tiny-controlnet-sd15.safetensors");
  const std::string depth = fx("models/annotators/tiny-depth-anything-v2.safetensors");
  link(fx("models/tiny-sd15.safetensors"), root / "Stable-diffusion" / "tiny.safetensors");
  link(controlnet, root / "ControlNet" / "tiny-cn.safetensors");
  // (The tiny models' sizes are in sidecars, which the loaders read beside the files.)
  link(fx("models/tiny-sd15.json"), root / "Stable-diffusion" / "tiny.json");
  link(fx("models/tiny-controlnet-sd15.json"), root / "ControlNet" / "tiny-cn.json");
  link(depth, root / "annotators" / "depth_anything_v2_vitl.safetensors");
  link(fx("models/annotators/tiny-depth-anything-v2.json"),
       root / "annotators" / "depth_anything_v2_vitl.json");
  i2i_model_params mp;
  i2i_model_defaults(&mp);
  const std::string tok = fx("tokenizer");
  mp.tokenizer_dir = tok.c_str();
  mp.precision = "fp32";
  i2i_model_options mo;
  i2i_model_options_defaults(&mo);
  EXPECT_EQ(mo.size, sizeof(i2i_model_options));
  EXPECT_EQ(mo.models_dir, nullptr);
  char* err = nullptr;
  // Elsewhere, the name is not found: the error names it and where it looked.
  const std::string elsewhere = (root.parent_path() / "elsewhere").string();
  mo.models_dir = elsewhere.c_str();
  EXPECT_EQ(i2i_model_load_with_options("tiny", &mp, &mo, &err), nullptr);
  ASSERT_NE(err, nullptr);
  EXPECT_NE(std::string(err).find("model 'tiny'"), std::string::npos) << err;
  EXPECT_NE(std::string(err).find("elsewhere"), std::string::npos) << err;
  i2i_free_error(err);
  err = nullptr;
  // A caller compiled before models_dir existed (a shorter struct) gets the default folder: not this one.
  const std::string folder = root.string();
  mo.models_dir = folder.c_str();
  i2i_model_options older = mo;
  older.size = offsetof(i2i_model_options, models_dir);
  EXPECT_EQ(i2i_model_load_with_options("tiny", &mp, &older, &err), nullptr);
  i2i_free_error(err);
  err = nullptr;
  i2i_model* named = i2i_model_load_with_options("tiny", &mp, &mo, &err);
  ASSERT_NE(named, nullptr) << err;

  i2i_generation_params p = ddim_case();
  const std::string init = fx("cases/inputs/astronaut_64.png");
  p.init_path = init.c_str();
  p.steps = 3;
  i2i_control_unit unit;
  i2i_control_unit_defaults(&unit);
  unit.model_path = "tiny-cn";
  unit.image_path = init.c_str();
  unit.preprocess = "depth_anything_v2";
  p.controls = &unit;
  p.n_controls = 1;
  i2i_control_annotator annotator = {nullptr, 96};  // no file: depth_anything_v2_vitl in annotators/
  i2i_generation_options o;
  i2i_generation_options_defaults(&o);
  o.control_annotators = &annotator;
  o.n_control_annotators = 1;
  i2i_result* by_name = nullptr;
  ASSERT_EQ(i2i_generate_with(named, &p, &o, &by_name, &err), I2I_OK) << err;

  unit.model_path = controlnet.c_str();
  annotator.model = depth.c_str();
  i2i_result* by_path = nullptr;
  ASSERT_EQ(i2i_generate_with(tiny_model(), &p, &o, &by_path, &err), I2I_OK) << err;
  EXPECT_EQ(0, std::memcmp(by_name->images[0].pixels, by_path->images[0].pixels, 64 * 64 * 3));
  EXPECT_NE(std::string(by_name->images[0].parameters).find("Module: depth_anything_v2, Model: tiny-cn"),
            std::string::npos)
      << by_name->images[0].parameters;
  i2i_result_free(by_name);
  i2i_result_free(by_path);

  // The model on a path with no models folder: its generations use the default folder, where tiny-cn is not.
  unit.model_path = "tiny-cn";
  EXPECT_EQ(i2i_generate_with(tiny_model(), &p, &o, &by_name, &err), I2I_ERROR);
  ASSERT_NE(err, nullptr);
  EXPECT_NE(std::string(err).find("tiny-cn"), std::string::npos) << err;
  i2i_free_error(err);
  i2i_model_free(named);
}
