// Few-step models against diffusers (cases/sdxl.json, README "sdxl"): the LCM sampler on SD 1.5 (4 steps,
// strength 0.6, guidance 1.0 and 1.5), SDXL-Turbo's settings (Euler a, timestep_spacing "trailing", 2 steps,
// strength 0.5, guidance 0; library and CLI), and the settings around them: `--scheduler trailing` for every
// sampler, guidance 0 / 1 as one UNet pass without the negative prompt, steps x strength < 1 refused before a
// model is loaded.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "core/error.h"
#include "io/image.h"
#include "io/parameters.h"
#include "io/python_json.h"
#include "models/unet.h"
#include "models/unet_load.h"
#include "pipelines/generation.h"
#include "pipelines/img2img.h"
#include "sampling/rng_torch.h"
#include "sampling/scheduler.h"
#include "support/cli_run.h"
#include "support/fixtures.h"
#include "support/pipeline_cases.h"

namespace i2i {
namespace {
namespace fs = std::filesystem;

const char* const kIndex = "sdxl.json";

const nlohmann::json& sdxl_case(const std::string& id) {
  return test::find_index_case(kIndex, "sdxl_pipelines", id);
}

Tensor case_tensor(const nlohmann::json& ref) {
  return test::index_tensors(kIndex).get(ref.at("key").get<std::string>()).to(DType::F32);
}

// The noise a case's pipeline drew, in order (NCHW, as diffusers drew it).
std::vector<Tensor> recorded_noise(const nlohmann::json& c) {
  std::vector<Tensor> v;
  for (const auto& d : c.at("noise_draws")) v.push_back(case_tensor(d));
  return v;
}

// The request an sdxl.json case describes (diffusers' img2img call arguments; the scheduler override
// timestep_spacing "trailing" is i2i's schedule type "trailing").
Img2ImgRequest case_request(const nlohmann::json& c) {
  const auto& prm = c.at("parameters");
  Img2ImgRequest req;
  req.init_image =
      image_to_tensor(to_rgb(read_image(test::fixture_path(prm.at("image").get<std::string>()))));
  req.prompt = prm.at("prompt");
  req.negative_prompt = prm.at("negative_prompt");
  req.strength = prm.at("strength");
  req.steps = prm.at("num_inference_steps");
  req.cfg_scale = prm.at("guidance_scale");
  req.sampler = c.at("sampler");
  if (prm.contains("scheduler_overrides"))
    req.schedule = prm.at("scheduler_overrides").value("timestep_spacing", "");
  return req;
}

class LcmCase : public ::testing::TestWithParam<std::string> {};

// The LCM sampler from the case's recorded noise (replayed), then from the seed (the generator's draws
// must be the recorded ones: VAE sample, start noise, one per step but the last).
TEST_P(LcmCase, MatchesDiffusers) {
  const auto& c = sdxl_case(GetParam());
  SCOPED_TRACE(GetParam());
  const SdModel& model = test::fixture_model("tiny-sd15.safetensors");
  const Img2ImgRequest req = case_request(c);
  ASSERT_EQ(req.sampler, "LCM");

  ReplayNoise replay(recorded_noise(c));
  Img2ImgResult r = run_img2img(model, req, {&replay});
  EXPECT_EQ(replay.remaining(), 0u);
  // diffusers' schedule [999, 759, 499, 259]; strength 0.6 keeps the last int(4 x 0.6) = 2.
  EXPECT_EQ(r.step_timesteps, (std::vector<double>{499, 259}));
  test::expect_matches_case(r, c, test::index_tensors(kIndex));

  TorchCpuGenerator gen(c.at("parameters").at("seed").get<uint64_t>());
  test::RecordingNoise recording(gen);
  Img2ImgResult g = run_img2img(model, req, {&recording});
  const std::vector<Tensor> want = recorded_noise(c);
  ASSERT_EQ(recording.draws.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i)
    EXPECT_TRUE(test::all_close(recording.draws[i], want[i], 0, "noise draw " + std::to_string(i)));
  test::expect_matches_case(g, c, test::index_tensors(kIndex));
}

INSTANTIATE_TEST_SUITE_P(Fixtures, LcmCase,
                         ::testing::Values("sd15_lcm_img2img_4steps_s0.6_cfg1.0",
                                           "sd15_lcm_img2img_4steps_s0.6_cfg1.5"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& ch : n)
                             if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return n;
                         });

// SDXL-Turbo's settings on tiny-sdxl: schedule [999, 499], one step at t = 499, no guidance. Runs once
// load_sd_model takes SDXL models.
TEST(SdxlTurbo, MatchesDiffusers) {
  const auto& c = sdxl_case("sdxl_turbo_img2img_Euler_a_trailing_2steps_s0.5_cfg0");
  const SdModel* model = nullptr;
  try {
    model = &test::fixture_model("tiny-sdxl.fp16.safetensors");
  } catch (const Error& e) {
    if (std::string(e.what()).find("SDXL") != std::string::npos) GTEST_SKIP() << e.what();
    throw;
  }
  const Img2ImgRequest req = case_request(c);
  ASSERT_EQ(req.schedule, "trailing");
  ReplayNoise replay(recorded_noise(c));
  Img2ImgResult r = run_img2img(*model, req, {&replay});
  EXPECT_EQ(replay.remaining(), 0u);
  EXPECT_EQ(r.step_timesteps, (std::vector<double>{499}));
  test::expect_matches_case(r, c, test::index_tensors(kIndex));
}

// Guidance 0 is guidance off, as 1 is: the fixtures' guidance-1 case comes out of a guidance-0 request
// (one UNet pass per step, the negative prompt not encoded: expect_matches_case checks it is absent).
TEST(Guidance, ZeroIsOnePassLikeOne) {
  const auto& c = test::find_case("pipelines", "sd15_img2img_Euler_s0.6_cfg1");
  Img2ImgRequest req = test::request_for_case(c);
  req.cfg_scale = 0.0;
  TorchCpuGenerator gen(c.at("parameters").at("seed").get<uint64_t>());
  Img2ImgResult r = run_img2img(test::fixture_model("tiny-sd15.safetensors"), req, {&gen});
  EXPECT_FALSE(r.negative_prompt_embeds.defined());
  test::expect_matches_case(r, c);
}

// --scheduler trailing is diffusers' timestep_spacing="trailing" for the samplers (the fixtures'
// "[trailing]" scheduler cases); LCM has its own schedule and refuses it.
TEST(TrailingSchedule, MatchesDiffusersSpacing) {
  std::ifstream in(test::fixtures_dir() / "models" / "tiny-sd15" / "scheduler" / "scheduler_config.json");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const SchedulerConfig base = SchedulerConfig::from_json(parse_python_json(text, "scheduler_config.json"));
  for (const char* name : {"Euler", "DDIM"}) {
    SCOPED_TRACE(name);
    const auto& want = test::find_case("schedulers", std::string(name) + " [trailing]")["set_timesteps"];
    auto s = make_scheduler(name, base, "trailing");
    EXPECT_EQ(s->timestep_spacing(), "trailing");
    for (const char* n : {"1", "4", "10", "20"}) {
      s->set_timesteps(std::stoi(n));
      std::vector<double> t;
      for (const auto& v : want[n]["timesteps_list"]) t.push_back(v.get<double>());
      EXPECT_EQ(s->timesteps(), t) << n << " steps";
    }
  }
  // Every sampler but LCM takes it; Turbo's 2 steps start at 999 and 499 for the one-level samplers.
  for (const std::string& name : sampler_names()) {
    SCOPED_TRACE(name);
    if (name == "LCM") {
      const std::string msg = test::error_of([&] { make_scheduler(name, base, "trailing"); });
      EXPECT_NE(msg.find("'trailing' does not apply"), std::string::npos) << msg;
      continue;
    }
    auto s = make_scheduler(name, base, "Trailing");
    EXPECT_EQ(s->timestep_spacing(), "trailing");
    s->set_timesteps(2);
    EXPECT_NEAR(s->timesteps().front(), 999.0, 1e-3);  // DPM2: a float32 sigma_to_t of sigma_max
  }
  // With Karras sigmas both options hold, as diffusers sets them: DPM-Solver's Karras ramp spans the
  // training range whatever the spacing; Euler's ends at the trailing schedule's last sigma.
  auto dpm = make_scheduler("DPM++ 2M Karras", base, "trailing");
  auto dpm_plain = make_scheduler("DPM++ 2M Karras", base, "");
  dpm->set_timesteps(4);
  dpm_plain->set_timesteps(4);
  EXPECT_TRUE(dpm->config().use_karras_sigmas);
  EXPECT_EQ(dpm->timesteps(), dpm_plain->timesteps());
  SchedulerConfig karras = base;
  karras.use_karras_sigmas = true;
  auto euler_k = make_scheduler("Euler", karras, "trailing");
  auto euler_t = make_scheduler("Euler", base, "trailing");
  euler_k->set_timesteps(4);
  euler_t->set_timesteps(4);
  EXPECT_FLOAT_EQ(euler_k->sigmas()[3], euler_t->sigmas()[3]);  // sigma at t = 249, not at t = 0
  EXPECT_FLOAT_EQ(euler_k->sigmas()[0], euler_t->sigmas()[0]);
  const std::string msg = test::error_of([&] { make_scheduler("Euler", base, "sgm"); });
  EXPECT_NE(msg.find("automatic, karras, normal or trailing"), std::string::npos) << msg;
}

// Turbo-style img2img through the library on tiny-sd15: the 2-step trailing schedule runs one step at
// t = 499 with one UNet pass (no negative prompt), drawing VAE sample, start noise and Euler a's step noise.
TEST(TrailingSchedule, TurboStyleImg2Img) {
  Img2ImgRequest req = test::request_for_case(test::find_case("pipelines", "sd15_img2img_Euler_a_s0.6"));
  req.steps = 2;
  req.strength = 0.5;
  req.cfg_scale = 0.0;
  req.schedule = "trailing";
  TorchCpuGenerator gen(1234);
  test::RecordingNoise recording(gen);
  Img2ImgResult r = run_img2img(test::fixture_model("tiny-sd15.safetensors"), req, {&recording});
  EXPECT_EQ(r.step_timesteps, (std::vector<double>{499}));
  EXPECT_EQ(recording.draws.size(), 3u);
  EXPECT_FALSE(r.negative_prompt_embeds.defined());
  // Without "trailing" the 2-step linspace schedule [999, 0] would run its one step at t = 0.
  req.schedule = "";
  TorchCpuGenerator gen2(1234);
  EXPECT_EQ(run_img2img(test::fixture_model("tiny-sd15.safetensors"), req, {&gen2}).step_timesteps,
            (std::vector<double>{0}));
}

// steps x strength below 1 leaves no step: refused by validate_request, before any model is loaded, with
// both values and a way out in the message.
TEST(StepsTimesStrength, RefusedBeforeTheModelLoads) {
  GenerationRequest req;
  req.params.model = "no-such-model.safetensors";
  req.params.init_image = "no-such-image.png";
  req.params.steps = 2;
  req.params.strength = 0.3;
  const std::string msg = test::error_of([&] { validate_request(req); });
  EXPECT_NE(msg.find("steps 2 x strength 0.3 = 0.6 is below 1"), std::string::npos) << msg;
  EXPECT_NE(msg.find("raise steps or strength (at least 4 steps at this strength)"), std::string::npos)
      << msg;
  req.params.steps = 3;
  req.params.strength = 0.3;
  EXPECT_NE(test::error_of([&] { validate_request(req); }).find("3 x strength 0.3 = 0.9 is"),
            std::string::npos);
  req.params.steps = 2;
  req.params.strength = 0.5;
  EXPECT_EQ(test::error_of([&] { validate_request(req); }), "(no error)");

  const fs::path dir = test::temp_dir("turbo_steps_strength");
  test::CmdResult r = test::run_i2i({"img2img", "--model", "no-such-model.safetensors", "--init",
                                     test::fixture_path("cases/inputs/astronaut_64.png").string(), "--prompt",
                                     "x", "--steps", "2", "--strength", "0.3", "--quiet"},
                                    dir);
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("--steps 2 x --strength 0.3 = 0.6 is below 1"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("no-such-model"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace i2i

namespace i2i {
namespace {
namespace fs = std::filesystem;

// `i2i img2img --sampler LCM` gives diffusers' LCM picture (within one level); the parameters text names
// the sampler as A1111 does and --from-png makes the same picture again.
TEST(LcmCli, SamePngAsDiffusers) {
  const fs::path dir = test::temp_dir("lcm_cli");
  test::CmdResult r = test::run_i2i(test::with(test::fixture_args("img2img", "models/tiny-sd15.safetensors"),
                                               {"--sampler", "LCM", "--steps", "4", "--strength", "0.6",
                                                "--cfg-scale", "1", "--precision", "fp32", "-o", "lcm.png"}),
                                    dir);
  ASSERT_EQ(r.status, 0) << r.err;
  test::expect_same_picture(dir / "lcm.png",
                            test::case_png("cases/sdxl/pipelines/sd15_lcm_img2img_4steps_s0.6_cfg1.0.png"));
  const std::string t = read_png_text(dir / "lcm.png")["parameters"];
  EXPECT_NE(t.find("Steps: 4, Sampler: LCM, CFG scale: 1, Seed: 1234"), std::string::npos) << t;
}

// SDXL-Turbo's command on tiny-sdxl gives diffusers' picture (the sdxl_turbo case, within one level) and
// --from-png reads its schedule type back.
TEST(TurboCli, SdxlTurboSamePngAsDiffusers) {
  const fs::path dir = test::temp_dir("sdxl_turbo_cli");
  const fs::path init = test::fixture_path("cases/sdxl/inputs/astronaut_64.png");
  test::CmdResult r = test::run_i2i(
      test::with(test::fixture_args("img2img", "models/tiny-sdxl.fp16.safetensors"),
                 {"--init", init.string(), "--sampler", "Euler a", "--scheduler", "trailing", "--steps", "2",
                  "--strength", "0.5", "--cfg-scale", "0", "--precision", "fp32", "-o", "turbo.png"}),
      dir);
  ASSERT_EQ(r.status, 0) << r.err;
  test::expect_same_picture(
      dir / "turbo.png",
      test::case_png("cases/sdxl/pipelines/sdxl_turbo_img2img_Euler_a_trailing_2steps_s0.5_cfg0.png"));
  const std::string t = read_png_text(dir / "turbo.png")["parameters"];
  EXPECT_NE(t.find("Schedule type: Trailing, CFG scale: 0,"), std::string::npos) << t;
  test::CmdResult again = test::run_i2i(
      {"img2img", "--from-png", (dir / "turbo.png").string(), "--model",
       test::fixture_path("models").string(), "--tokenizer", test::fixture_path("tokenizer").string(),
       "--init", init.string(), "--precision", "fp32", "--quiet", "-o", "again.png"},
      dir);
  ASSERT_EQ(again.status, 0) << again.err;
  EXPECT_EQ(read_image(dir / "turbo.png").pixels, read_image(dir / "again.png").pixels);
}

// SD-Turbo's command (SD 2.x architecture: tiny-sd2v): --scheduler trailing --steps 2 --strength 0.5
// --cfg-scale 0 runs, records "Schedule type: Trailing", and --from-png reads it back to the same picture.
TEST(TurboCli, Sd2TrailingTwoStepsRerunsFromPng) {
  const fs::path dir = test::temp_dir("turbo_cli");
  test::CmdResult r =
      test::run_i2i(test::with(test::fixture_args("img2img", "models/tiny-sd2v.fp16.safetensors"),
                               {"--scheduler", "trailing", "--steps", "2", "--strength", "0.5", "--cfg-scale",
                                "0", "--precision", "fp32", "-o", "turbo.png"}),
                    dir);
  ASSERT_EQ(r.status, 0) << r.err;
  const std::string t = read_png_text(dir / "turbo.png")["parameters"];
  EXPECT_NE(t.find("Steps: 2, Sampler: Euler a, Schedule type: Trailing, CFG scale: 0, Seed: 1234"),
            std::string::npos)
      << t;
  test::CmdResult again = test::run_i2i(
      {"img2img", "--from-png", (dir / "turbo.png").string(), "--model",
       test::fixture_path("models").string(), "--tokenizer", test::fixture_path("tokenizer").string(),
       "--init", test::fixture_path("cases/inputs/astronaut_64.png").string(), "--precision", "fp32",
       "--quiet", "-o", "again.png"},
      dir);
  ASSERT_EQ(again.status, 0) << again.err;
  EXPECT_EQ(read_image(dir / "turbo.png").pixels, read_image(dir / "again.png").pixels);
  EXPECT_EQ(read_png_text(dir / "again.png")["parameters"], t);
  // The same run without trailing takes its one step at t = 0: a different picture.
  ASSERT_EQ(test::run_i2i(test::with(test::fixture_args("img2img", "models/tiny-sd2v.fp16.safetensors"),
                                     {"--steps", "2", "--strength", "0.5", "--cfg-scale", "0", "--precision",
                                      "fp32", "-o", "linspace.png"}),
                          dir)
                .status,
            0);
  EXPECT_NE(read_image(dir / "turbo.png").pixels, read_image(dir / "linspace.png").pixels);
}

}  // namespace
}  // namespace i2i

namespace i2i {
namespace {

// LCM's guidance embedding against diffusers' get_guidance_scale_embedding, written out in double:
// w' = 1000 w, freq_i = exp(-i ln(10000) / (dim/2 - 1)), [sin(w' freq) | cos(w' freq)], odd dim zero-padded.
// (float32 arguments up to 2000 carry ~1e-4 of rounding, hence the tolerance.)
TEST(GuidanceEmbedding, FollowsDiffusersFormula) {
  for (int64_t dim : {256, 7}) {
    const std::vector<float> w = {0.0f, 0.5f, 1.0f, 2.0f};
    Tensor e = guidance_scale_embedding(w, dim);
    ASSERT_EQ(e.shape(), (Shape{4, dim}));
    const int64_t half = dim / 2;
    Tensor want = Tensor::zeros({4, dim});
    for (int64_t n = 0; n < 4; ++n)
      for (int64_t i = 0; i < half; ++i) {
        const double arg =
            1000.0 * w[n] *
            std::exp(-static_cast<double>(i) * std::log(10000.0) / static_cast<double>(half - 1));
        want.data<float>()[n * dim + i] = static_cast<float>(std::sin(arg));
        want.data<float>()[n * dim + half + i] = static_cast<float>(std::cos(arg));
      }
    EXPECT_TRUE(test::all_close(e, want, 1e-3, "guidance embedding, dim " + std::to_string(dim)));
    EXPECT_EQ(e.data<float>()[1], 0.0f);         // w = 0: sin 0
    EXPECT_EQ(e.data<float>()[half + 1], 1.0f);  // and cos 0
    if (dim % 2) {
      EXPECT_EQ(e.data<float>()[2 * dim - 1], 0.0f);
    }
  }
}

// A UNet with time_cond_proj_dim (LCM-distilled, random cond_proj on the tiny-sd15 UNet): the time embedding
// is linear_2(silu(linear_1(sinusoid(t) + cond_proj(timestep_cond)))), checked in double against the layers'
// weights; the conditioning is required by it and refused by a UNet without cond_proj.
TEST(GuidanceEmbedding, UNetTimeEmbeddingWithCondProj) {
  std::ifstream in(test::fixtures_dir() / "models" / "tiny-sd15.json");
  nlohmann::json unet_json = nlohmann::json::parse(in).at("unet");
  unet_json["time_cond_proj_dim"] = 8;
  const UNetConfig config = unet_config_from_json(unet_json);
  ASSERT_EQ(config.time_cond_proj_dim, 8);
  Weights w = diffusers_component_weights(test::fixtures_dir() / "models" / "tiny-sd15" / "unet");
  const Tensor cond_w = test::random_uniform({config.time_proj_dim, 8}, 11, -0.3f, 0.3f);
  w.add("time_embedding.cond_proj.weight", cond_w);
  EXPECT_EQ(infer_unet_config(w, &unet_json).time_cond_proj_dim, 8);  // from the tensor's shape too
  const UNet2DCondition unet(w, config);

  const Tensor sample = test::random_uniform({2, 8, 8, 4}, 12);
  UNetConditioning cond;
  cond.context = test::random_uniform({2, 77, 16}, 13);
  cond.timestep_cond = guidance_scale_embedding({0.5f, 7.0f}, 8);
  UNetIntermediates mid;
  unet.forward(sample, {499.f}, cond, &mid);

  const Tensor t_proj = mid.at("time_proj");
  const Tensor l1 = w.get("time_embedding.linear_1.weight").to(DType::F32);
  const Tensor b1 = w.get("time_embedding.linear_1.bias").to(DType::F32);
  const Tensor l2 = w.get("time_embedding.linear_2.weight").to(DType::F32);
  const Tensor b2 = w.get("time_embedding.linear_2.bias").to(DType::F32);
  const int64_t in_dim = config.time_proj_dim, out_dim = config.time_embed_dim;
  Tensor want = Tensor::empty({2, out_dim});
  for (int64_t n = 0; n < 2; ++n) {
    std::vector<double> x(static_cast<size_t>(in_dim)), h(static_cast<size_t>(out_dim));
    for (int64_t i = 0; i < in_dim; ++i) {
      double v = t_proj.data<float>()[n * in_dim + i];
      for (int64_t k = 0; k < 8; ++k)
        v += static_cast<double>(cond_w.data<float>()[i * 8 + k]) *
             cond.timestep_cond.data<float>()[n * 8 + k];
      x[i] = v;
    }
    for (int64_t o = 0; o < out_dim; ++o) {
      double v = b1.data<float>()[o];
      for (int64_t i = 0; i < in_dim; ++i) v += static_cast<double>(l1.data<float>()[o * in_dim + i]) * x[i];
      h[o] = v / (1.0 + std::exp(-v));  // SiLU
    }
    for (int64_t o = 0; o < out_dim; ++o) {
      double v = b2.data<float>()[o];
      for (int64_t i = 0; i < out_dim; ++i)
        v += static_cast<double>(l2.data<float>()[o * out_dim + i]) * h[i];
      want.data<float>()[n * out_dim + o] = static_cast<float>(v);
    }
  }
  EXPECT_TRUE(test::all_close(mid.at("time_embedding"), want, 1e-5, "time_embedding"));

  UNetConditioning plain;
  plain.context = cond.context;
  EXPECT_NE(test::error_of([&] { unet.forward(sample, {499.f}, plain); }).find("timestep_cond"),
            std::string::npos);
  const UNet2DCondition sd15 = load_unet_diffusers(test::fixtures_dir() / "models" / "tiny-sd15");
  EXPECT_NE(test::error_of([&] { sd15.forward(sample, {499.f}, cond); }).find("no cond_proj"),
            std::string::npos);
}

// In the pipeline an LCM-distilled UNet never runs CFG (diffusers: guidance > 1 and no time_cond_proj_dim):
// one UNet pass, the negative prompt not encoded, and the scale reaches the UNet as w = guidance - 1.
TEST(GuidanceEmbedding, PipelineRunsOnePassWithTheScaleEmbedded) {
  SdModelOptions o;
  o.tokenizer = test::fixtures_dir() / "tokenizer";
  o.precision = PrecisionChoice::F32;
  SdModel model = load_sd_model(test::fixtures_dir() / "models" / "tiny-sd15", o);
  std::ifstream in(test::fixtures_dir() / "models" / "tiny-sd15.json");
  nlohmann::json unet_json = nlohmann::json::parse(in).at("unet");
  unet_json["time_cond_proj_dim"] = 16;
  Weights w = diffusers_component_weights(test::fixtures_dir() / "models" / "tiny-sd15" / "unet");
  w.add("time_embedding.cond_proj.weight", test::random_uniform({16, 16}, 21, -0.3f, 0.3f));
  model.unet = UNet2DCondition(w, unet_config_from_json(unet_json));

  Img2ImgRequest req = case_request(sdxl_case("sd15_lcm_img2img_4steps_s0.6_cfg1.5"));
  TorchCpuGenerator gen(1234);
  Img2ImgResult a = run_img2img(model, req, {&gen});
  EXPECT_FALSE(a.negative_prompt_embeds.defined());
  req.cfg_scale = 1.0;
  TorchCpuGenerator gen2(1234);
  Img2ImgResult b = run_img2img(model, req, {&gen2});
  EXPECT_GT(test::max_abs_diff(a.latents, b.latents).max_abs, 1e-3);  // w = 0.5 vs w = 0
}

}  // namespace
}  // namespace i2i
