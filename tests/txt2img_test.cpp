// txt2img end to end against diffusers' StableDiffusionPipeline runs (cases/txt2img.json): from the seed,
// the same noise draws, the same initial latents (noise x init_noise_sigma), timesteps, latents after
// every step and the same picture; then `i2i txt2img` on the command line.
#include <gtest/gtest.h>

#include "io/image.h"
#include "io/parameters.h"
#include "pipelines/img2img.h"
#include "sampling/rng_torch.h"
#include "sampling/scheduler.h"
#include "support/cli_run.h"
#include "support/fixtures.h"
#include "support/pipeline_cases.h"

namespace i2i {
namespace {
namespace fs = std::filesystem;

const char* const kIndex = "txt2img.json";
// Relative tolerance of the starting sigma (see MatchesDiffusers).
constexpr double kSigmaRelTol = 5e-7;

const nlohmann::json& txt2img_case(const std::string& id) {
  return test::find_index_case(kIndex, "txt2img_pipelines", id);
}

Tensor case_tensor(const nlohmann::json& ref) {
  return test::index_tensors(kIndex).get(ref.at("key").get<std::string>()).to(DType::F32);
}

// The fixture file holding a case's model in float32 (the fp16 files are lossless copies).
std::string model_file(const nlohmann::json& c) {
  const std::string m = c.at("model");
  return m == "tiny-sd15" ? "tiny-sd15.safetensors" : m + ".fp16.safetensors";
}

class Txt2ImgCase : public ::testing::TestWithParam<std::string> {};

TEST_P(Txt2ImgCase, MatchesDiffusers) {
  const auto& c = txt2img_case(GetParam());
  SCOPED_TRACE(GetParam());
  const SdModel& model = test::fixture_model(model_file(c));
  Img2ImgRequest req = test::request_for_case(c);
  ASSERT_FALSE(req.init_image.defined());

  // The schedule's starting sigma as diffusers' scheduler reports it after set_timesteps: max(sigmas) for
  // Euler / Euler a with these configs' "linspace" spacing (14.6146), 1 for DDIM and DPM++ 2M (Karras).
  // i2i's sigma_max is 2 float32 ulp high (14.6146469 vs 14.6146450; PyTorch's linspace kernel fuses its
  // multiply-adds, tests/schedulers_test allows the same 5e-7 relative); a wrong formula such as
  // sqrt(sigma_max^2 + 1) = 14.649 is 2e-3 off.
  std::unique_ptr<Scheduler> scheduler = make_scheduler(
      req.sampler, SchedulerConfig::from_json(model.scheduler_config, "the model's scheduler config"), "");
  scheduler->set_timesteps(req.steps);
  const double sigma = c.at("init_noise_sigma").get<double>();
  EXPECT_NEAR(scheduler->init_noise_sigma(), sigma, kSigmaRelTol * sigma);

  // One generator for the whole batch, as diffusers' pipeline call with generator=...manual_seed(seed).
  TorchCpuGenerator gen(c.at("parameters").at("seed").get<uint64_t>());
  test::RecordingNoise recording(gen);
  Img2ImgResult r = run_img2img(model, req, {&recording});

  // Every draw in diffusers' order and shape: the start noise [B, 4, H/8, W/8] (one draw for the batch),
  // then the scheduler's per-step draws (Euler draws too, though s_churn 0 leaves them unused). The
  // generator is bit-exact (rng_test), so the values must be equal.
  const auto& draws = c.at("noise_draws");
  ASSERT_EQ(recording.draws.size(), draws.size());
  for (size_t i = 0; i < draws.size(); ++i)
    EXPECT_TRUE(
        test::all_close(recording.draws[i], case_tensor(draws[i]), 0, "noise draw " + std::to_string(i)));

  // The latents entering the loop: noise x init_noise_sigma, one float32 product per value, so within the
  // sigma's relative error of the recorded ones (noise exact): 5e-7 x |latent| <= 5e-7 x 4.5 x 14.6 = 3.3e-5.
  EXPECT_TRUE(test::all_close(nhwc_to_nchw(r.initial_latents),
                              case_tensor(c.at("outputs").at("initial_latents")), kSigmaRelTol * 4.5 * sigma,
                              "initial_latents"));
  test::expect_matches_case(r, c, test::index_tensors(kIndex));
}

// Every case: SD 1.x / 2.x and SDXL.
INSTANTIATE_TEST_SUITE_P(Fixtures, Txt2ImgCase,
                         ::testing::Values("sd15_txt2img_Euler_a", "sd15_txt2img_DPMpp_2M_Karras",
                                           "sd15_txt2img_DDIM", "sd15_txt2img_Euler",
                                           "sd15_txt2img_Euler_cfg1", "sd15_txt2img_Euler_a_w96_h64",
                                           "sd15_txt2img_Euler_a_batch2", "sd2v_txt2img_Euler",
                                           "sdxl_txt2img_Euler_a"),
                         [](const auto& info) { return info.param; });

// Without a size there is nothing to generate.
TEST(Txt2Img, NeedsASize) {
  Img2ImgRequest req = test::request_for_case(txt2img_case("sd15_txt2img_DDIM"));
  req.width = 0;
  TorchCpuGenerator gen(1);
  EXPECT_NE(test::error_of([&] {
              run_img2img(test::fixture_model("tiny-sd15.safetensors"), req, {&gen});
            }).find("txt2img needs a positive width and height"),
            std::string::npos);
}

}  // namespace
}  // namespace i2i

namespace i2i {
namespace {
namespace fs = std::filesystem;

const char* const kPrompt = "a photograph of an astronaut riding a horse, highly detailed";

std::vector<std::string> txt2img_args() {
  return test::fixture_args("txt2img", "models/tiny-sd15.safetensors");
}

// The fixtures' settings on the command line give diffusers' picture; the PNG's parameters text is
// A1111's txt2img one (no Denoising strength), and --from-png makes the same picture again.
TEST(Txt2ImgCli, SamePngAsDiffusersAndRerunFromPng) {
  const fs::path dir = test::temp_dir("txt2img_cli");
  test::CmdResult r =
      test::run_i2i(test::with(txt2img_args(), {"--width", "64", "--height", "64", "--sampler", "Euler a",
                                                "--precision", "fp32", "-o", "out.png"}),
                    dir);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("seed 1234"), std::string::npos) << r.out;
  test::expect_same_picture(dir / "out.png",
                            test::case_png("cases/txt2img/pipelines/sd15_txt2img_Euler_a.png"));

  const std::string t = read_png_text(dir / "out.png")["parameters"];
  EXPECT_EQ(
      t.rfind(
          std::string(kPrompt) +
              "\nNegative prompt: blurry, low quality, watermark\nSteps: 10, Sampler: Euler a, CFG scale: "
              "7.5, Seed: 1234, Size: 64x64, Model hash: ",
          0),
      0u)
      << t;
  EXPECT_NE(t.find(", Model: tiny-sd15, "), std::string::npos) << t;
  EXPECT_EQ(t.find("Denoising strength"), std::string::npos) << t;
  EXPECT_EQ(t.find("Init image"), std::string::npos) << t;

  test::CmdResult again = test::run_i2i(
      {"txt2img", "--from-png", (dir / "out.png").string(), "--model", test::fixture_path("models").string(),
       "--tokenizer", test::fixture_path("tokenizer").string(), "--quiet", "-o", "again.png"},
      dir);
  ASSERT_EQ(again.status, 0) << again.err;
  EXPECT_EQ(read_image(dir / "out.png").pixels, read_image(dir / "again.png").pixels);
  EXPECT_EQ(read_png_text(dir / "again.png")["parameters"], t);
}

// A size that is not a multiple of 64 (the UNet's sized-upsampling path) through the CLI: 96 wide, 64 high.
TEST(Txt2ImgCli, NonSquareSize) {
  const fs::path dir = test::temp_dir("txt2img_cli_96x64");
  test::CmdResult r =
      test::run_i2i(test::with(txt2img_args(), {"--width", "96", "--height", "64", "--sampler", "Euler a",
                                                "--precision", "fp32", "-o", "out.png"}),
                    dir);
  ASSERT_EQ(r.status, 0) << r.err;
  test::expect_same_picture(dir / "out.png",
                            test::case_png("cases/txt2img/pipelines/sd15_txt2img_Euler_a_w96_h64.png"));
  EXPECT_NE(read_png_text(dir / "out.png")["parameters"].find("Size: 96x64"), std::string::npos);
}

// The CLI seeds each picture of a batch on its own (seed, seed + 1: A1111), so picture 0 of --batch-size 2
// is the batch-1 picture of the same seed. (diffusers' one-generator batch is Txt2ImgCase/..._batch2.)
TEST(Txt2ImgCli, BatchPictureZeroIsTheSingleRun) {
  const fs::path dir = test::temp_dir("txt2img_cli_batch");
  const auto args = test::with(txt2img_args(), {"--width", "64", "--height", "64", "--precision", "fp32"});
  ASSERT_EQ(test::run_i2i(test::with(args, {"-o", "one.png"}), dir).status, 0);
  test::CmdResult r = test::run_i2i(test::with(args, {"--batch-size", "2", "-o", "two.png"}), dir);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("two.png (seed 1234)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("two-1.png (seed 1235)"), std::string::npos) << r.out;
  test::expect_same_picture(dir / "two.png", dir / "one.png");
  // Picture 1 has its own noise: a different picture.
  EXPECT_NE(read_image(dir / "two-1.png").pixels, read_image(dir / "one.png").pixels);
}

}  // namespace
}  // namespace i2i
