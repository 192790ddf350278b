// The `i2i` command line end to end, on the tiny fixture model: the same PNGs as diffusers, the
// parameters text, re-running from a PNG, output naming, and one-line errors for bad input.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "io/image.h"
#include "io/parameters.h"
#include "support/cli_run.h"
#include "support/fixtures.h"

namespace i2i {
namespace {
namespace fs = std::filesystem;

using test::CmdResult;
using test::expect_same_picture;

CmdResult run(const std::vector<std::string>& args, const fs::path& dir) {
  return test::run_i2i(args, dir);
}

fs::path fx(const std::string& rel) {
  return test::fixture_path(rel);
}

std::vector<std::string> base_args(const std::string& model = "models/tiny-sd15.safetensors") {
  return test::fixture_args("img2img", model);
}

using test::with;

struct CliCase {
  const char* id;
  const char* sampler;
  const char* strength;
  const char* model;
  const char* cfg;
};

class CliFixture : public ::testing::TestWithParam<CliCase> {};

TEST_P(CliFixture, SamePngAsDiffusers) {
  const CliCase& c = GetParam();
  auto dir = test::temp_dir(std::string("cli_") + c.id);
  auto args = base_args(c.model);
  args = with(args, {"--sampler", c.sampler, "--strength", c.strength, "--cfg-scale", c.cfg, "-o", "out.png",
                     "--precision", "fp32"});
  CmdResult r = run(args, dir);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("seed 1234"), std::string::npos) << r.out;
  expect_same_picture(dir / "out.png", fx(std::string("cases/pipelines/") + c.id + ".png"));
}

INSTANTIATE_TEST_SUITE_P(
    Fixtures, CliFixture,
    ::testing::Values(
        CliCase{"sd15_img2img_Euler_a_s0.6", "Euler a", "0.6", "models/tiny-sd15.safetensors", "7.5"},
        CliCase{"sd15_img2img_DDIM_s0.3", "DDIM", "0.3", "models/tiny-sd15", "7.5"},
        CliCase{"sd15_img2img_DPMpp_2M_Karras_s1.0", "dpmpp_2m_karras", "1.0",
                "models/tiny-sd15.fp16.safetensors", "7.5"},
        CliCase{"sd15_img2img_Euler_s0.6_cfg1", "euler", "0.6", "models/tiny-sd15.safetensors", "1"},
        CliCase{"sd2v_img2img_Euler_s0.6", "Euler", "0.6", "models/tiny-sd2v.fp16.safetensors", "7.5"},
        CliCase{"sdxl_img2img_Euler_a_s0.6", "Euler a", "0.6", "models/tiny-sdxl.fp16.safetensors", "7.5"},
        CliCase{"sdxl_img2img_Euler_a_s1.0", "Euler a", "1.0", "models/tiny-sdxl", "7.5"}),
    [](const auto& info) {
      std::string n = info.param.id;
      for (char& ch : n)
        if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
      return n;
    });

TEST(Cli, ParametersTextAndRerunFromPng) {
  auto dir = test::temp_dir("cli_params");
  CmdResult r = run(with(base_args(), {"--sampler", "Euler a", "--strength", "0.6", "-o", "first.png"}), dir);
  ASSERT_EQ(r.status, 0) << r.err;
  auto text = read_png_text(dir / "first.png");
  ASSERT_TRUE(text.count("parameters"));
  const std::string& t = text["parameters"];
  EXPECT_EQ(
      t.rfind("a photograph of an astronaut riding a horse, highly detailed\nNegative prompt: blurry, low "
              "quality, watermark\nSteps: 10, Sampler: Euler a, CFG scale: 7.5, Seed: 1234, Size: 64x64, "
              "Model hash: ",
              0),
      0u)
      << t;
  EXPECT_NE(t.find(", Model: tiny-sd15, Denoising strength: 0.6, "), std::string::npos) << t;
  GenerationParameters g = parse_parameters(t);
  EXPECT_EQ(g.get("Denoising strength").value_or(""), "0.6");
  EXPECT_EQ(g.get("Model hash").value_or("").size(), 10u);

  // The text records no paths: --from-png is told where the model and the init image are.
  CmdResult again = run({"img2img", "--from-png", (dir / "first.png").string(), "--model",
                         fx("models").string(), "--init", fx("cases/inputs/astronaut_64.png").string(),
                         "--tokenizer", fx("tokenizer").string(), "--quiet", "-o", "second.png"},
                        dir);
  ASSERT_EQ(again.status, 0) << again.err;
  Image a = read_image(dir / "first.png"), b = read_image(dir / "second.png");
  EXPECT_EQ(a.pixels, b.pixels);
  EXPECT_EQ(read_png_text(dir / "second.png")["parameters"], t);
}

TEST(Cli, DoesNotOverwriteUnlessAsked) {
  auto dir = test::temp_dir("cli_names");
  auto args = with(base_args(), {"--strength", "0.5", "--steps", "4", "-o", "pic.png"});
  ASSERT_EQ(run(args, dir).status, 0);
  ASSERT_EQ(run(args, dir).status, 0);
  EXPECT_TRUE(fs::exists(dir / "pic.png"));
  EXPECT_TRUE(fs::exists(dir / "pic-1.png"));
  auto before = fs::last_write_time(dir / "pic.png");
  ASSERT_EQ(run(with(args, {"--overwrite"}), dir).status, 0);
  EXPECT_FALSE(fs::exists(dir / "pic-2.png"));
  EXPECT_GE(fs::last_write_time(dir / "pic.png"), before);
}

TEST(Cli, BatchImagesCanBeRemadeAlone) {
  auto dir = test::temp_dir("cli_batch");
  auto args = with(base_args(), {"--strength", "0.5", "--steps", "4", "--sampler", "Euler a"});
  ASSERT_EQ(run(with(args, {"--batch-size", "2", "--batch-count", "2", "-o", "b.png"}), dir).status, 0);
  for (const char* f : {"b.png", "b-1.png", "b-2.png", "b-3.png"}) EXPECT_TRUE(fs::exists(dir / f)) << f;
  // Image 3 of the run (second batch, second image) has seed 1234 + 3.
  EXPECT_NE(read_png_text(dir / "b-3.png")["parameters"].find("Seed: 1237"), std::string::npos);
  std::vector<std::string> alone = base_args();
  for (size_t i = 0; i < alone.size(); ++i)
    if (alone[i] == "--seed") alone[i + 1] = "1237";
  ASSERT_EQ(
      run(with(alone, {"--strength", "0.5", "--steps", "4", "--sampler", "Euler a", "-o", "alone.png"}), dir)
          .status,
      0);
  expect_same_picture(dir / "alone.png", dir / "b-3.png");
}

struct BadCase {
  const char* name;
  std::vector<std::string> extra;  // appended to base_args (later flags win)
  const char* needle;
};

class CliBadInput : public ::testing::TestWithParam<BadCase> {};

TEST_P(CliBadInput, OneLineErrorAndNonZeroExit) {
  const BadCase& c = GetParam();
  auto dir = test::temp_dir(std::string("cli_bad_") + c.name);
  std::ofstream(dir / "corrupt.png") << "\x89PNG\r\n\x1a\n garbage";
  std::ofstream(dir / "text.safetensors") << "not a model at all";
  CmdResult r = run(with(base_args(), c.extra), dir);
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find(c.needle), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "expected one line: " << r.err;
  EXPECT_FALSE(fs::exists(dir / "output.png"));
}

INSTANTIATE_TEST_SUITE_P(
    Cli, CliBadInput,
    ::testing::Values(
        BadCase{"missing_model", {"--model", "nope.safetensors"}, "no such file"},
        BadCase{"unreadable_model", {"--model", "text.safetensors"}, "not a safetensors file"},
        BadCase{"missing_image", {"--init", "nope.png"}, "nope.png"},
        BadCase{"corrupt_image", {"--init", "corrupt.png"}, "corrupt.png"},
        BadCase{"strength_high", {"--strength", "1.5"}, "--strength must be between 0 and 1"},
        BadCase{"strength_negative", {"--strength", "-0.1"}, "--strength must be between 0 and 1"},
        BadCase{"steps_zero", {"--steps", "0"}, "--steps must be at least 1"},
        BadCase{"cfg_negative", {"--cfg-scale", "-1"}, "--cfg-scale must not be negative"},
        BadCase{"width_zero", {"--width", "0"}, "--width must be a positive"},
        BadCase{"no_denoising_step", {"--strength", "0.05"}, "raise --steps or --strength"},
        BadCase{"width_negative", {"--width", "-64"}, "--width"},
        BadCase{"height_huge", {"--height", "100000"}, "too large"},
        BadCase{"width_odd", {"--width", "100"}, "multiples of 8"},
        BadCase{"sampler_unknown", {"--sampler", "Eular"}, "Euler a"},
        BadCase{"sdxl_settings_on_sd15",
                {"--original-size", "128,96"},
                "--original-size, --aesthetic-score, --refiner, ...) apply to SDXL models only"},
        BadCase{"sdxl_size_unreadable", {"--original-size", "128x96"}, "expects W,H"},
        BadCase{"refiner_is_sd15",
                {"--model", fx("models/tiny-sdxl.fp16.safetensors").string(), "--refiner",
                 fx("models/tiny-sd15.safetensors").string()},
                "is a SD1.x model, not an SDXL refiner"},
        BadCase{"refiner_is_base",
                {"--model", fx("models/tiny-sdxl.fp16.safetensors").string(), "--refiner",
                 fx("models/tiny-sdxl").string()},
                "is an SDXL base model, not an SDXL refiner"},
        BadCase{"controlnet_as_model",
                {"--model", fx("models/tiny-controlnet-sd15.safetensors").string()},
                "ControlNet"},
        BadCase{"unknown_flag", {"--strenght", "0.5"}, "unknown option --strenght"},
        BadCase{"not_a_number", {"--strength", "abc"}, "expects a number"},
        BadCase{"output_not_png", {"-o", "out.jpg"}, "use a .png name"},
        BadCase{"output_folder_missing", {"-o", "no/such/folder/out.png"}, "no folder"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(Cli, HelpAndUnknownCommand) {
  auto dir = test::temp_dir("cli_help");
  CmdResult h = run({"--help"}, dir);
  EXPECT_EQ(h.status, 0);
  EXPECT_NE(h.out.find("img2img"), std::string::npos);
  CmdResult u = run({"frobnicate"}, dir);
  EXPECT_NE(u.status, 0);
  EXPECT_NE(u.err.find("unknown command"), std::string::npos);
}

}  // namespace
}  // namespace i2i

namespace i2i {
namespace {

// --rng gpu draws A1111's default "GPU" noise (Philox): another picture than the CPU generator's, the same
// one again from its PNG (whose infotext, like A1111's, names no RNG for GPU and "RNG: CPU" otherwise).
TEST(Cli, GpuRngIsReproducible) {
  auto dir = test::temp_dir("cli_rng");
  auto args = with(base_args(), {"--strength", "0.5", "--steps", "4"});
  ASSERT_EQ(run(with(args, {"-o", "cpu.png"}), dir).status, 0);
  ASSERT_EQ(run(with(args, {"--rng", "gpu", "-o", "gpu.png"}), dir).status, 0);
  EXPECT_NE(read_image(dir / "cpu.png").pixels, read_image(dir / "gpu.png").pixels);
  EXPECT_NE(read_png_text(dir / "cpu.png")["parameters"].find("RNG: CPU"), std::string::npos);
  EXPECT_EQ(read_png_text(dir / "gpu.png")["parameters"].find("RNG"), std::string::npos);
  CmdResult again = run(
      {"img2img", "--from-png", (dir / "gpu.png").string(), "--model",
       fx("models/tiny-sd15.safetensors").string(), "--init", fx("cases/inputs/astronaut_64.png").string(),
       "--tokenizer", fx("tokenizer").string(), "--quiet", "-o", "gpu-again.png"},
      dir);
  ASSERT_EQ(again.status, 0) << again.err;
  EXPECT_EQ(read_image(dir / "gpu.png").pixels, read_image(dir / "gpu-again.png").pixels);
  EXPECT_NE(run(with(args, {"--rng", "tpu"}), dir).status, 0);
}

}  // namespace
}  // namespace i2i
