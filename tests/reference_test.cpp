// Reference-only conditioning (pipelines/reference_control.h) against diffusers' community
// StableDiffusionReferencePipeline runs (cases/reference.json): every noise draw in order, the reference's
// VAE sample and its add_noise per step, the latents of every step and the picture, at tensor level and
// through generate(); the layer choice of the auto machine weights; img2img, inpainting, batches and
// ControlNet with a reference; the parameters text; then the command line.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>

#include "io/image.h"
#include "io/parameters.h"
#include "pipelines/generation.h"
#include "pipelines/img2img.h"
#include "pipelines/infotext.h"
#include "sampling/rng_torch.h"
#include "support/cli_run.h"
#include "support/fixtures.h"
#include "support/pipeline_cases.h"

namespace i2i {
namespace {
namespace fs = std::filesystem;

const char* const kIndex = "reference.json";
const char* const kModel = "models/tiny-sd15.safetensors";
// The bound on every step's latents (tighter than pipeline_cases' kLatentTol, 2e-3).
constexpr double kFinalLatentTol = 1e-3;

const nlohmann::json& reference_case(const std::string& id) {
  return test::find_index_case(kIndex, "reference_pipelines", id);
}

// reference.json names its tensor file in its group (not at the top like the other indexes).
const SafeTensors& reference_tensors() {
  static const SafeTensors file = SafeTensors::open(
      test::fixtures_dir() / "cases" /
      test::index_json(kIndex).at("groups").at("reference_pipelines").at("file").get<std::string>());
  return file;
}

Tensor case_tensor(const nlohmann::json& ref) {
  return reference_tensors().get(ref.at("key").get<std::string>()).to(DType::F32);
}

ReferenceMode case_mode(const nlohmann::json& prm) {
  const bool attn = prm.at("reference_attn"), adain = prm.at("reference_adain");
  return attn && adain ? ReferenceMode::AdainAttn : adain ? ReferenceMode::Adain : ReferenceMode::Attn;
}

std::string ref_image_path(const nlohmann::json& c) {
  return test::fixture_path(c.at("parameters").at("ref_image").get<std::string>()).string();
}

// The tensor-level request of a case: txt2img 64x64 plus the reference unit.
Img2ImgRequest case_request(const nlohmann::json& c) {
  const auto& prm = c.at("parameters");
  Img2ImgRequest req;
  req.width = req.height = 64;
  req.steps = prm.at("steps");
  req.prompt = prm.at("prompt");
  req.negative_prompt = prm.at("negative_prompt");
  req.cfg_scale = prm.at("guidance_scale");
  req.sampler = c.at("sampler");
  ReferenceUnit u;
  u.image = image_to_tensor(to_rgb(read_image(ref_image_path(c))));
  u.mode = case_mode(prm);
  u.style_fidelity = prm.at("style_fidelity");
  u.attn_weight = prm.at("attention_auto_machine_weight");
  u.adain_weight = prm.at("gn_auto_machine_weight");
  req.reference = u;
  return req;
}

// The generate() request of a case (seed 1234: torch's CPU generator, as diffusers').
GenerationRequest case_generation(const nlohmann::json& c) {
  const auto& prm = c.at("parameters");
  GenerationRequest req;
  GenerationParams& p = req.params;
  p.prompt = prm.at("prompt");
  p.negative_prompt = prm.at("negative_prompt");
  p.steps = prm.at("steps");
  p.cfg_scale = prm.at("guidance_scale");
  p.sampler = c.at("sampler");
  p.seed = prm.at("seed");
  p.width = p.height = 64;
  ReferenceParams r;
  r.image = ref_image_path(c);
  r.mode = case_mode(prm);
  r.style_fidelity = prm.at("style_fidelity");
  r.attn_weight = prm.at("attention_auto_machine_weight");
  r.adain_weight = prm.at("gn_auto_machine_weight");
  p.reference = r;
  return req;
}

std::unique_ptr<ModelSet> load_models(const std::string& model = kModel) {
  SdModelOptions o;
  o.tokenizer = test::fixture_path("tokenizer");
  o.precision = PrecisionChoice::F32;
  return ModelSet::load(test::fixture_path(model), o);
}

ModelSet& shared_models() {
  static std::unique_ptr<ModelSet> m = load_models();
  return *m;
}

class ReferenceCase : public ::testing::TestWithParam<std::string> {};

// The tensor-level pipeline: every draw equal, the reference's VAE sample and each step's add_noise call,
// then every step's latents and the picture (pipeline_cases' comparisons).
TEST_P(ReferenceCase, MatchesDiffusers) {
  const auto& c = reference_case(GetParam());
  SCOPED_TRACE(GetParam());
  const SdModel& model = test::fixture_model("tiny-sd15.safetensors");
  TorchCpuGenerator gen(c.at("parameters").at("seed").get<uint64_t>());
  test::RecordingNoise recording(gen);
  Img2ImgResult r = run_img2img(model, case_request(c), {&recording});

  // Start noise, the reference's VAE sample, then per step the reference noise (and Euler a's own draw).
  const auto& draws = c.at("noise_draws");
  ASSERT_EQ(recording.draws.size(), draws.size());
  for (size_t i = 0; i < draws.size(); ++i)
    EXPECT_TRUE(
        test::all_close(recording.draws[i], case_tensor(draws[i]), 0, "noise draw " + std::to_string(i)));

  // One add_noise call per step: the reference latents (a VAE stage, 1e-4) noised to the step's timestep.
  const auto& calls = c.at("add_noise_calls");
  ASSERT_EQ(r.reference_noised.size(), calls.size());
  EXPECT_TRUE(test::all_close(nhwc_to_nchw(r.reference_latents), case_tensor(calls[0].at("original_samples")),
                              test::kStageTol, "reference latents"));
  for (size_t i = 0; i < calls.size(); ++i) {
    const std::string what = "add_noise " + std::to_string(i);
    EXPECT_EQ(case_tensor(calls[i].at("timesteps")).to_vector().at(0),
              static_cast<float>(r.step_timesteps[i]))
        << what;
    EXPECT_TRUE(test::all_close(nhwc_to_nchw(r.reference_noised[i]), case_tensor(calls[i].at("result")),
                                test::kStageTol, what));
  }
  test::expect_matches_case(r, c, reference_tensors());
  EXPECT_TRUE(test::all_close(nhwc_to_nchw(r.latents), case_tensor(c.at("outputs").at("final_latents")),
                              kFinalLatentTol, "final_latents"));
}

// The same cases through generate() (the front ends' path: the reference read from its file and resized,
// one generator per picture seeded 1234): every step's latents and the picture.
TEST_P(ReferenceCase, ThroughGenerate) {
  const auto& c = reference_case(GetParam());
  SCOPED_TRACE(GetParam());
  GenerationRequest req = case_generation(c);
  std::vector<Tensor> steps;
  req.progress = [&](const GenerationProgress& g) {
    steps.push_back(g.latents->clone());
    return true;
  };
  GenerationResult g = generate(shared_models(), req);
  const Tensor want = case_tensor(c.at("outputs").at("step_latents"));
  ASSERT_EQ(steps.size(), static_cast<size_t>(want.dim(0)));
  for (size_t i = 0; i < steps.size(); ++i) {
    const Tensor got = nhwc_to_nchw(steps[i]);
    EXPECT_TRUE(test::all_close(
        got, want.slice0(static_cast<int64_t>(i), static_cast<int64_t>(i) + 1).reshape(got.shape()),
        kFinalLatentTol, "step latents " + std::to_string(i)));
  }
  ASSERT_EQ(g.images.size(), 1u);
  test::expect_same_picture(
      g.images[0].image, read_image(test::case_png(c.at("outputs").at("images_png")[0].get<std::string>())),
      "png");
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ReferenceCase,
                         ::testing::Values("sd15_reference_attn_fidelity0.5_DDIM",
                                           "sd15_reference_attn_fidelity1.0_DDIM",
                                           "sd15_reference_adain_fidelity0.5_DDIM",
                                           "sd15_reference_adain_fidelity1.0_DDIM",
                                           "sd15_reference_adain+attn_fidelity0.5_DDIM",
                                           "sd15_reference_adain+attn_fidelity1.0_DDIM",
                                           "sd15_reference_adain+attn_fidelity0.5_Euler_a",
                                           "sd15_reference_adain+attn_fidelity0.5_weights0.5_DDIM"),
                         [](const auto& info) {
                           std::string s = info.param;
                           for (char& ch : s)
                             if (ch == '.' || ch == '+') ch = '_';
                           return s;
                         });

// --- layers ----------------------------------------------------------------------------------------------

// The auto machine weights on tiny-sd15 (widths 16, 16, 32, 32; 16 transformer blocks, 6 of width 32).
TEST(ReferenceLayers, AutoMachineWeights) {
  const UNet2DCondition& unet = test::fixture_model("tiny-sd15.safetensors").unet;
  ReferenceUnit u;
  u.mode = ReferenceMode::AdainAttn;
  ReferenceLayers all = reference_layers(unet, u);
  EXPECT_EQ(all.attention.size(), 16u);
  // gn weights: mid 0, down 2, 1.5, 1, 0.5, up 0, 0.5, 1, 1.5; used when 1.0 >= weight.
  const std::vector<std::string> want_adain = {"mid_block",
                                               "down_blocks.2.attentions.0",
                                               "down_blocks.2.attentions.1",
                                               "down_blocks.3.resnets.0",
                                               "down_blocks.3.resnets.1",
                                               "up_blocks.0.resnets.0",
                                               "up_blocks.0.resnets.1",
                                               "up_blocks.0.resnets.2",
                                               "up_blocks.1.attentions.0",
                                               "up_blocks.1.attentions.1",
                                               "up_blocks.1.attentions.2",
                                               "up_blocks.2.attentions.0",
                                               "up_blocks.2.attentions.1",
                                               "up_blocks.2.attentions.2"};
  EXPECT_EQ(all.adain, want_adain);

  u.attn_weight = u.adain_weight = 0.5;
  ReferenceLayers half = reference_layers(unet, u);
  // The widest half, stable in diffusers' module order (down blocks, up blocks, mid block): the six blocks
  // of width 32, then the first two of width 16.
  const std::vector<std::string> want_attn = {"down_blocks.2.attentions.0.transformer_blocks.0.attn1",
                                              "down_blocks.2.attentions.1.transformer_blocks.0.attn1",
                                              "up_blocks.1.attentions.0.transformer_blocks.0.attn1",
                                              "up_blocks.1.attentions.1.transformer_blocks.0.attn1",
                                              "up_blocks.1.attentions.2.transformer_blocks.0.attn1",
                                              "mid_block.attentions.0.transformer_blocks.0.attn1",
                                              "down_blocks.0.attentions.0.transformer_blocks.0.attn1",
                                              "down_blocks.0.attentions.1.transformer_blocks.0.attn1"};
  EXPECT_EQ(half.attention, want_attn);
  const std::vector<std::string> want_half_adain = {"mid_block",
                                                    "down_blocks.3.resnets.0",
                                                    "down_blocks.3.resnets.1",
                                                    "up_blocks.0.resnets.0",
                                                    "up_blocks.0.resnets.1",
                                                    "up_blocks.0.resnets.2",
                                                    "up_blocks.1.attentions.0",
                                                    "up_blocks.1.attentions.1",
                                                    "up_blocks.1.attentions.2"};
  EXPECT_EQ(half.adain, want_half_adain);

  // Weight 0: no attention layer; the mid block and up block 0 (gn weight 0) still take part.
  u.attn_weight = u.adain_weight = 0;
  ReferenceLayers none = reference_layers(unet, u);
  EXPECT_TRUE(none.attention.empty());
  const std::vector<std::string> want_zero = {"mid_block", "up_blocks.0.resnets.0", "up_blocks.0.resnets.1",
                                              "up_blocks.0.resnets.2"};
  EXPECT_EQ(none.adain, want_zero);
  u.mode = ReferenceMode::Attn;
  u.attn_weight = u.adain_weight = 1;
  EXPECT_TRUE(reference_layers(unet, u).adain.empty());
}

// --- generate(): img2img, inpainting, batches, ControlNet
// ---------------------------------------------------

GenerationRequest plain_request(const std::string& init, int steps = 4) {
  GenerationRequest req;
  GenerationParams& p = req.params;
  p.prompt = "a photograph of an astronaut riding a horse, highly detailed";
  p.negative_prompt = "blurry, low quality, watermark";
  p.steps = steps;
  p.cfg_scale = 7.5;
  p.sampler = "Euler a";
  p.seed = 1234;
  if (init.empty()) {
    p.width = p.height = 64;
  } else {
    p.init_image = test::fixture_path(init).string();
    p.strength = 0.75;
  }
  return req;
}

GenerationRequest with_reference(GenerationRequest req, ReferenceMode mode = ReferenceMode::AdainAttn) {
  ReferenceParams r;
  r.image = test::fixture_path("images/chelsea_64.png").string();
  r.mode = mode;
  req.params.reference = r;
  return req;
}

std::vector<std::vector<uint8_t>> pixels(const GenerationResult& g) {
  std::vector<std::vector<uint8_t>> out;
  for (const auto& i : g.images) out.push_back(i.image.pixels);
  return out;
}

// With a reference, img2img / inpainting / a batch of 2 / a ControlNet unit run, give the same pictures
// twice, and differ from the same request without the reference.
void expect_reference_changes(ModelSet& models, const GenerationRequest& plain) {
  const GenerationRequest ref = with_reference(plain);
  const GenerationResult a = generate(models, ref);
  const GenerationResult b = generate(models, ref);
  const GenerationResult without = generate(models, plain);
  ASSERT_EQ(a.images.size(), without.images.size());
  EXPECT_EQ(pixels(a), pixels(b));
  for (size_t k = 0; k < a.images.size(); ++k)
    EXPECT_NE(a.images[k].image.pixels, without.images[k].image.pixels) << "picture " << k;
}

TEST(ReferenceGenerate, Img2Img) {
  expect_reference_changes(shared_models(), plain_request("cases/inputs/astronaut_64.png"));
}

TEST(ReferenceGenerate, Img2ImgBatchOfTwo) {
  GenerationRequest req = plain_request("cases/inputs/astronaut_64.png");
  req.params.batch_size = 2;
  expect_reference_changes(shared_models(), req);
  // Picture 1 of the batch is its seed's batch-1 picture (one generator per picture, A1111's seeds).
  const GenerationResult two = generate(shared_models(), with_reference(req));
  GenerationRequest one = with_reference(plain_request("cases/inputs/astronaut_64.png"));
  one.params.seed = 1235;
  EXPECT_EQ(generate(shared_models(), one).images[0].image.pixels, two.images[1].image.pixels);
}

TEST(ReferenceGenerate, InpaintFourChannel) {
  GenerationRequest req = plain_request("cases/inputs/astronaut_64.png");
  req.params.mask = test::fixture_path("cases/inputs/mask_64.png").string();
  expect_reference_changes(shared_models(), req);
}

TEST(ReferenceGenerate, InpaintNineChannel) {
  std::unique_ptr<ModelSet> models = load_models("models/tiny-sd15-inpaint.fp16.safetensors");
  GenerationRequest req = plain_request("cases/inputs/astronaut_64.png");
  req.params.mask = test::fixture_path("cases/inputs/mask_64.png").string();
  expect_reference_changes(*models, req);
}

TEST(ReferenceGenerate, WithControlNet) {
  GenerationRequest req = plain_request("cases/inputs/astronaut_64.png");
  ControlParams c;
  c.image = test::fixture_path("cases/inputs/astronaut_64_canny_100_200.png").string();
  c.model = test::fixture_path("models/tiny-controlnet-sd15.safetensors").string();
  c.weight = 0.8;
  req.params.controls.push_back(c);
  expect_reference_changes(shared_models(), req);
}

TEST(ReferenceGenerate, Txt2ImgWithoutGuidance) {
  // guidance 1: every sample takes the reference (c = uc); still a change, still deterministic.
  GenerationRequest req = plain_request("");
  req.params.cfg_scale = 1.0;
  expect_reference_changes(shared_models(), req);
}

// Attention weight 0 selects no layer: with a sampler that draws nothing per step (DDIM) the picture is
// the plain one (the reference's draws come after the start noise). The AdaIN weight has no such zero: the
// mid block's and up block 0's gn weights are 0, so they always take part.
TEST(ReferenceGenerate, ZeroWeights) {
  GenerationRequest plain = plain_request("");
  plain.params.sampler = "DDIM";
  GenerationRequest attn0 = with_reference(plain, ReferenceMode::Attn);
  attn0.params.reference->attn_weight = 0;
  EXPECT_EQ(generate(shared_models(), attn0).images[0].image.pixels,
            generate(shared_models(), plain).images[0].image.pixels);
  GenerationRequest adain0 = with_reference(plain, ReferenceMode::Adain);
  adain0.params.reference->adain_weight = 0;
  EXPECT_NE(generate(shared_models(), adain0).images[0].image.pixels,
            generate(shared_models(), plain).images[0].image.pixels);
}

TEST(ReferenceGenerate, InMemoryPictureEqualsPath) {
  const GenerationRequest by_path = with_reference(plain_request(""));
  GenerationRequest in_memory = by_path;
  in_memory.images.reference = read_image(in_memory.params.reference->image);
  in_memory.params.reference->image.clear();
  EXPECT_EQ(generate(shared_models(), in_memory).images[0].image.pixels,
            generate(shared_models(), by_path).images[0].image.pixels);
}

// A reference of another size is resized (PIL LANCZOS) to the generation size.
TEST(ReferenceGenerate, ResizesTheReference) {
  GenerationRequest req = with_reference(plain_request(""));
  req.params.reference->image = test::fixture_path("images/chelsea_512.png").string();
  const GenerationResult big = generate(shared_models(), req);
  GenerationRequest small = with_reference(plain_request(""));
  small.images.reference = resize(read_image(req.params.reference->image), 64, 64);
  small.params.reference->image.clear();
  EXPECT_EQ(big.images[0].image.pixels, generate(shared_models(), small).images[0].image.pixels);
}

TEST(ReferenceGenerate, BadSettings) {
  GenerationRequest req = with_reference(plain_request(""));
  req.params.reference->style_fidelity = 1.5;
  EXPECT_NE(test::error_of([&] { generate(shared_models(), req); }).find("style_fidelity"),
            std::string::npos);
  req = with_reference(plain_request(""));
  req.params.reference->attn_weight = -1;
  EXPECT_NE(test::error_of([&] { generate(shared_models(), req); }).find("reference_attn_weight"),
            std::string::npos);
  req = with_reference(plain_request(""));
  req.params.reference->image = "/nonexistent/ref.png";
  EXPECT_NE(test::error_of([&] { generate(shared_models(), req); }).find("reference_image"),
            std::string::npos);
  EXPECT_THROW(parse_reference_mode("reference"), ParameterError);
}

// --- parameters text -------------------------------------------------------------------------------------

// A reference unit is written as the ControlNet extension writes one, numbered after the ControlNet units,
// and read back by its Module.
TEST(ReferenceInfotext, RoundTrip) {
  GenerationParams p;
  p.prompt = "x";
  ControlParams c;
  c.image = "/tmp/canny.png";
  c.model = "/tmp/cn.safetensors";
  c.preprocess = "canny";
  p.controls.push_back(c);
  ReferenceParams r;
  r.image = "/tmp/ref.png";
  r.mode = ReferenceMode::AdainAttn;
  r.style_fidelity = 0.25;
  r.attn_weight = 0.75;
  r.adain_weight = 1.5;
  p.reference = r;
  // By default no path of the user's machine is written (issue 17): neither the reference picture's nor the
  // ControlNet's.
  const std::string shared = format_parameters(make_infotext(p, 1, 64, 64, 0, {false, false}));
  EXPECT_EQ(shared.find("/tmp"), std::string::npos) << shared;
  EXPECT_NE(shared.find("ControlNet 1 reference adain weight: 1.5"), std::string::npos) << shared;
  p.infotext_paths = true;
  const std::string text = format_parameters(make_infotext(p, 1, 64, 64, 0, {false, false}));
  EXPECT_NE(text.find("ControlNet 1: \"Module: reference_adain+attn, Model: None, Weight: 0.75, Resize Mode: "
                      "Just Resize, Low Vram: False, Threshold A: 0.25, Guidance Start: 0, Guidance End: 1, "
                      "Pixel Perfect: False, Control Mode: Balanced\""),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("ControlNet 1 image: /tmp/ref.png"), std::string::npos) << text;
  GenerationParams back;
  apply_infotext(parse_parameters(text), back);
  ASSERT_TRUE(back.reference.has_value());
  EXPECT_EQ(back.reference->image, r.image);
  EXPECT_EQ(back.reference->mode, r.mode);
  EXPECT_EQ(back.reference->style_fidelity, r.style_fidelity);
  EXPECT_EQ(back.reference->attn_weight, r.attn_weight);
  EXPECT_EQ(back.reference->adain_weight, r.adain_weight);
  ASSERT_EQ(back.controls.size(), 1u);
  EXPECT_EQ(back.controls[0].model, c.model);
  EXPECT_EQ(back.controls[0].preprocess, "canny");

  // A1111's own text (no i2i keys): Weight is both weights, Threshold A the style fidelity.
  GenerationParams a1111;
  apply_infotext(
      parse_parameters("x\nSteps: 20, Seed: 1, ControlNet 0: \"Module: reference_only, Model: None, Weight: "
                       "0.5, Threshold A: 0.8, Guidance Start: 0, Guidance End: 1\""),
      a1111);
  ASSERT_TRUE(a1111.reference.has_value());
  EXPECT_TRUE(a1111.controls.empty());
  EXPECT_EQ(a1111.reference->mode, ReferenceMode::Attn);
  EXPECT_EQ(a1111.reference->attn_weight, 0.5);
  EXPECT_EQ(a1111.reference->adain_weight, 0.5);
  EXPECT_EQ(a1111.reference->style_fidelity, 0.8);
}

// --- command line ----------------------------------------------------------------------------------------

std::vector<std::string> reference_args(const nlohmann::json& c) {
  const auto& prm = c.at("parameters");
  const ReferenceMode mode = case_mode(prm);
  std::vector<std::string> a = test::with(
      test::fixture_args("txt2img", kModel),
      {"--width", "64", "--height", "64", "--sampler", c.at("sampler").get<std::string>(), "--precision",
       "fp32", "--reference-image", ref_image_path(c), "--reference-mode", reference_mode_name(mode),
       "--style-fidelity", format_number(prm.at("style_fidelity").get<double>())});
  const double aw = prm.at("attention_auto_machine_weight"), gw = prm.at("gn_auto_machine_weight");
  if (aw != 1.0) a = test::with(a, {"--reference-attn-weight", format_number(aw)});
  if (gw != 1.0) a = test::with(a, {"--reference-adain-weight", format_number(gw)});
  return a;
}

// The fixtures' pictures through the flags, and --from-png makes the same picture again.
TEST(ReferenceCli, SamePngAsDiffusersAndRerunFromPng) {
  const std::vector<std::string> ids = {"sd15_reference_adain+attn_fidelity0.5_Euler_a",
                                        "sd15_reference_adain+attn_fidelity0.5_weights0.5_DDIM"};
  for (size_t k = 0; k < ids.size(); ++k) {
    SCOPED_TRACE(ids[k]);
    const auto& c = reference_case(ids[k]);
    const fs::path dir = test::temp_dir("reference_cli_" + std::to_string(k));
    test::CmdResult r = test::run_i2i(test::with(reference_args(c), {"-o", "out.png"}), dir);
    ASSERT_EQ(r.status, 0) << r.err;
    test::expect_same_picture(dir / "out.png",
                              test::case_png(c.at("outputs").at("images_png")[0].get<std::string>()));
    const std::string t = read_png_text(dir / "out.png")["parameters"];
    EXPECT_NE(t.find("Module: reference_adain+attn, Model: None"), std::string::npos) << t;
    // The text names neither the model's folder nor the reference picture: --from-png asks for them.
    const std::vector<std::string> rerun = {"txt2img",
                                            "--from-png",
                                            (dir / "out.png").string(),
                                            "--tokenizer",
                                            test::fixture_path("tokenizer").string(),
                                            "--quiet"};
    const test::CmdResult no_ref = test::run_i2i(
        test::with(rerun, {"--model", test::fixture_path(kModel).string(), "-o", "no_ref.png"}), dir);
    EXPECT_NE(no_ref.status, 0);
    EXPECT_NE(no_ref.err.find("--reference-image"), std::string::npos) << no_ref.err;
    EXPECT_FALSE(fs::exists(dir / "no_ref.png"));
    test::CmdResult again =
        test::run_i2i(test::with(rerun, {"--model", test::fixture_path(kModel).string(), "--reference-image",
                                         ref_image_path(c), "-o", "again.png"}),
                      dir);
    ASSERT_EQ(again.status, 0) << again.err;
    EXPECT_EQ(read_image(dir / "out.png").pixels, read_image(dir / "again.png").pixels);
    EXPECT_EQ(read_png_text(dir / "again.png")["parameters"], t);
  }
}

// Reference flags on img2img and inpaint.
TEST(ReferenceCli, Img2ImgAndInpaint) {
  const fs::path dir = test::temp_dir("reference_cli_img2img");
  const std::vector<std::string> ref = {
      "--reference-image", test::fixture_path("images/chelsea_64.png").string(),
      "--reference-mode",  "reference_adain",
      "--steps",           "4",
      "--precision",       "fp32"};
  test::CmdResult a = test::run_i2i(
      test::with(test::with(test::fixture_args("img2img", kModel), ref), {"-o", "img2img.png"}), dir);
  ASSERT_EQ(a.status, 0) << a.err;
  EXPECT_NE(read_png_text(dir / "img2img.png")["parameters"].find("Module: reference_adain"),
            std::string::npos);
  test::CmdResult b = test::run_i2i(
      test::with(test::with(test::fixture_args("inpaint", kModel), ref),
                 {"--mask", test::fixture_path("cases/inputs/mask_64.png").string(), "-o", "inpaint.png"}),
      dir);
  ASSERT_EQ(b.status, 0) << b.err;
  EXPECT_TRUE(fs::exists(dir / "inpaint.png"));
}

// Bad input: one line naming the flag, a non-zero exit, no picture.
TEST(ReferenceCli, BadInput) {
  const fs::path dir = test::temp_dir("reference_cli_bad");
  const std::string ref = test::fixture_path("images/chelsea_64.png").string();
  fs::path unreadable = dir / "not_an_image.png";
  { std::ofstream(unreadable) << "not a png"; }
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--reference-image", unreadable.string()}, "--reference-image"},
      {{"--reference-image", (dir / "missing.png").string()}, "--reference-image"},
      {{"--reference-image", ref, "--reference-mode", "reference_magic"}, "--reference-mode"},
      {{"--reference-image", ref, "--style-fidelity", "1.5"}, "--style-fidelity"},
      {{"--reference-image", ref, "--style-fidelity", "-0.1"}, "--style-fidelity"},
      {{"--reference-image", ref, "--reference-attn-weight", "-1"}, "--reference-attn-weight"},
      {{"--reference-image", ref, "--reference-adain-weight", "-0.5"}, "--reference-adain-weight"},
      {{"--style-fidelity", "0.5"}, "--reference-image"},
      {{"--reference-image", ref, "--reference-image", ref}, "--reference-image is given more than once"},
      {{"--reference-image", ref, "--reference-mode", "reference_only", "--reference-mode",
        "reference_adain"},
       "--reference-mode is given more than once"},
  };
  for (const auto& [flags, flag] : cases) {
    SCOPED_TRACE(flag);
    test::CmdResult r = test::run_i2i(
        test::with(test::with(test::fixture_args("txt2img", kModel), {"--width", "64", "--height", "64"}),
                   test::with(flags, {"-o", "bad.png"})),
        dir);
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.err.find(flag), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_FALSE(fs::exists(dir / "bad.png"));
  }
}

}  // namespace
}  // namespace i2i
