// Command-line options around the model and the noise: --vae, --noise-file, --prediction, --model-config.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "io/image.h"
#include "io/safetensors.h"
#include "support/fixtures.h"

namespace i2i {
namespace {
namespace fs = std::filesystem;

int run(const std::string& args, const fs::path& dir, std::string* err = nullptr) {
  std::string cmd = "cd '" + dir.string() + "' && '" + I2I_BINARY + "' " + args + " >stdout.txt 2>stderr.txt";
  int s = std::system(cmd.c_str());
  if (err) {
    std::ifstream in(dir / "stderr.txt");
    std::stringstream ss;
    ss << in.rdbuf();
    *err = ss.str();
  }
  return WIFEXITED(s) ? WEXITSTATUS(s) : -1;
}

std::string fx(const std::string& rel) {
  std::string quoted = "'";
  quoted += (test::fixtures_dir() / rel).string();
  quoted += "'";
  return quoted;
}

std::string args_for(const std::string& model, const std::string& extra) {
  return "img2img --model " + fx(model) + " --tokenizer " + fx("tokenizer") + " --init " +
         fx("cases/inputs/astronaut_64.png") +
         " --prompt 'a photograph of an astronaut riding a horse, highly detailed'"
         " --negative-prompt 'blurry, low quality, watermark' --steps 10 --cfg-scale 7.5 --strength 0.6"
         " --sampler 'Euler a' --quiet --precision fp32 " +
         extra;
}

int max_level_diff(const fs::path& a, const fs::path& b) {
  Image x = read_image(a), y = read_image(b);
  if (x.pixels.size() != y.pixels.size()) return 999;
  int worst = 0;
  for (size_t i = 0; i < x.pixels.size(); ++i)
    worst = std::max(worst, std::abs(int(x.pixels[i]) - int(y.pixels[i])));
  return worst;
}

// The noise diffusers drew for a fixture run, replayed from a file, reproduces it whatever the seed.
TEST(CliModelOptions, NoiseFileReplaysRecordedNoise) {
  auto dir = test::temp_dir("cli_noise_file");
  const auto& c = test::find_case("pipelines", "sd15_img2img_Euler_a_s0.6");
  std::vector<std::pair<std::string, Tensor>> draws;
  for (const auto& d : c.at("noise_draws"))
    draws.emplace_back("noise." + std::to_string(d.at("index").get<int>()), test::ref_tensor("pipelines", d));
  write_safetensors(dir / "noise.safetensors", draws);
  ASSERT_EQ(
      run(args_for("models/tiny-sd15.safetensors", "--seed 999 --noise-file noise.safetensors -o out.png"),
          dir),
      0);
  EXPECT_LE(
      max_level_diff(dir / "out.png", test::fixtures_dir() / "cases/pipelines/sd15_img2img_Euler_a_s0.6.png"),
      1);
  // Too few draws in the file: a clear error.
  write_safetensors(dir / "short.safetensors", {draws[0]});
  std::string err;
  EXPECT_NE(run(args_for("models/tiny-sd15.safetensors", "--seed 1 --noise-file short.safetensors -o x.png"),
                dir, &err),
            0);
  EXPECT_NE(err.find("exhausted"), std::string::npos) << err;
}

// --vae with the checkpoint's own VAE (from the diffusers folder) changes nothing; a non-VAE is refused.
TEST(CliModelOptions, VaeOverride) {
  auto dir = test::temp_dir("cli_vae");
  ASSERT_EQ(run(args_for("models/tiny-sd15.safetensors",
                         "--seed 1234 --vae " + fx("models/tiny-sd15/vae") + " -o a.png"),
                dir),
            0);
  EXPECT_LE(
      max_level_diff(dir / "a.png", test::fixtures_dir() / "cases/pipelines/sd15_img2img_Euler_a_s0.6.png"),
      1);
  // A whole checkpoint given as --vae: its first_stage_model is used.
  ASSERT_EQ(run(args_for("models/tiny-sd15.safetensors",
                         "--seed 1234 --vae " + fx("models/tiny-sd15.fp16.safetensors") + " -o b.png"),
                dir),
            0);
  EXPECT_LE(max_level_diff(dir / "b.png", dir / "a.png"), 1);
  std::string err;
  EXPECT_NE(run(args_for("models/tiny-sd15.safetensors",
                         "--seed 1 --vae " + fx("models/tiny-controlnet-sd15.safetensors") + " -o c.png"),
                dir, &err),
            0);
  EXPECT_NE(err.find("not a VAE"), std::string::npos) << err;
}

// The prediction type decides how the UNet output is read: forcing epsilon on the v-prediction model
// must change the picture, and the sidecar's v setting reproduces the fixture.
TEST(CliModelOptions, PredictionOverride) {
  auto dir = test::temp_dir("cli_prediction");
  const std::string base = args_for("models/tiny-sd2v.fp16.safetensors", "--seed 1234 --sampler Euler");
  ASSERT_EQ(run(base + " -o v.png", dir), 0);
  EXPECT_LE(
      max_level_diff(dir / "v.png", test::fixtures_dir() / "cases/pipelines/sd2v_img2img_Euler_s0.6.png"), 1);
  ASSERT_EQ(run(base + " --prediction eps -o eps.png", dir), 0);
  EXPECT_GT(max_level_diff(dir / "eps.png", dir / "v.png"), 10);
  std::string err;
  EXPECT_NE(run(base + " --prediction x -o bad.png", dir, &err), 0);
  EXPECT_NE(err.find("unknown prediction type"), std::string::npos) << err;
}

}  // namespace
}  // namespace i2i
