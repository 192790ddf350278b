// Errors name what is at fault (issue 14 items 7 and 10): a value from a --from-png picture by its key in
// that picture (not a flag the user never gave), keys the picture records that i2i cannot honour as a
// warning, a weight of the wrong dtype by its tensor, a config field by its config file, a symbolic link
// loop or dangling link as such, invalid UTF-8 by the text it is in.
#include <gtest/gtest.h>

#include <fstream>

#include "io/image.h"
#include "io/regular_file.h"
#include "models/clip_text_loader.h"
#include "models/weights.h"
#include "pipelines/generation_params.h"
#include "support/cli_run.h"
#include "support/fixtures.h"

namespace i2i {
namespace {
namespace fs = std::filesystem;

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(ErrorNaming, WeightOfAnIntegerDtypeNamesTheTensor) {
  Weights w("m.safetensors");
  w.add("decoder.conv_in.weight", Tensor::zeros({4, 4, 3, 3}, DType::I32));
  const std::string e = error_of([&] { w.get("decoder.conv_in.weight"); });
  EXPECT_NE(e.find("m.safetensors: tensor 'decoder.conv_in.weight' is I32"), std::string::npos) << e;
  const Weights sub = w.sub("decoder.");
  EXPECT_NE(error_of([&] {
              sub.get("conv_in.weight", {4, 4, 3, 3});
            }).find("'decoder.conv_in.weight' is I32"),
            std::string::npos);
}

TEST(ErrorNaming, TextEncoderConfigErrorsNameTheConfigFile) {
  const fs::path dir = test::temp_dir("naming_te_config") / "text_encoder";
  fs::create_directories(dir);
  const fs::path src = test::models_dir() / "tiny-sd15" / "text_encoder";
  fs::create_symlink(src / "model.safetensors", dir / "model.safetensors");
  nlohmann::json cfg = nlohmann::json::parse(std::ifstream(src / "config.json"));
  cfg["num_attention_heads"] = "four";
  std::ofstream(dir / "config.json") << cfg.dump();
  const std::string e = error_of([&] { load_clip_text_folder(dir); });
  EXPECT_NE(e.find((dir / "config.json").string()), std::string::npos) << e;
  EXPECT_NE(e.find("num_attention_heads"), std::string::npos) << e;
  EXPECT_EQ(e.find("model.safetensors"), std::string::npos) << e;
}

TEST(ErrorNaming, LinkLoopsAndDanglingLinksAreSaidSo) {
  const fs::path dir = test::temp_dir("naming_links");
  fs::create_symlink("loop", dir / "loop");
  fs::create_symlink("gone.png", dir / "dangling");
  std::ofstream(dir / "file") << "x";
  EXPECT_NE(error_of([&] { RegularFile f(dir / "loop"); }).find("a symbolic link loop"), std::string::npos);
  EXPECT_NE(error_of([&] {
              RegularFile f(dir / "dangling");
            }).find("a symbolic link to gone.png, which does not exist"),
            std::string::npos);
  EXPECT_NE(error_of([&] { RegularFile f(dir / "file" / "x"); }).find(dir.string() + "/file is not a folder"),
            std::string::npos);
  EXPECT_NE(error_of([&] { RegularFile f(dir / "none"); }).find("no such file"), std::string::npos);
}

TEST(ErrorNaming, InvalidUtf8PromptsAreNamed) {
  GenerationParams p;
  p.model = "m";
  p.prompt = "a \xFF cat";
  EXPECT_NE(error_of([&] { p.validate(); }).find("prompt is not valid UTF-8 text (byte 2 of 7)"),
            std::string::npos);
  p.prompt = "ok";
  p.negative_prompt = "cut \xE2\x82";
  EXPECT_NE(
      error_of([&] { p.validate(); }).find("negative_prompt is not valid UTF-8 text (a character cut short"),
      std::string::npos);
}

// A picture recording A1111 settings i2i does not have: one warning line, and the run goes on.
TEST(ErrorNaming, UnhonouredPngKeysAreAWarning) {
  const fs::path dir = test::temp_dir("naming_unhonoured");
  Image im(64, 64, 3);
  write_png(
      dir / "p.png", im,
      {{"parameters",
        "a cat\nSteps: 2, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 64x64, Denoising strength: 0.5, "
        "Eta: 0.5, Hires upscale: 2, Hires steps: 10"}});
  test::CmdResult r = test::run_i2i(
      {"img2img", "--from-png", "p.png", "--model",
       test::fixture_path("models/tiny-sd15.safetensors").string(), "--tokenizer",
       test::fixture_path("tokenizer").string(), "--init",
       test::fixture_path("cases/inputs/astronaut_64.png").string(), "--quiet", "-o", "out.png"},
      dir);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(
      r.err,
      "i2i img2img: warning: p.png records Eta 0.5, Hires upscale 2, Hires steps 10, which i2i does not "
      "support (ignored): the picture will differ from the original\n");
  EXPECT_TRUE(fs::exists(dir / "out.png"));
}

// A flag the user gave is named as the flag even with --from-png; a value from the picture by its key.
TEST(ErrorNaming, PngValuesAreNamedByTheirKey) {
  const fs::path dir = test::temp_dir("naming_png_keys");
  Image im(64, 64, 3);
  write_png(dir / "p.png", im,
            {{"parameters",
              "a cat\nSteps: -5, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 64x64, "
              "Denoising strength: 0.5, Mask blur: 999"}});
  const std::vector<std::string> base = {"img2img",
                                         "--from-png",
                                         "p.png",
                                         "--model",
                                         test::fixture_path("models/tiny-sd15.safetensors").string(),
                                         "--tokenizer",
                                         test::fixture_path("tokenizer").string(),
                                         "--init",
                                         test::fixture_path("cases/inputs/astronaut_64.png").string(),
                                         "--quiet"};
  test::CmdResult r = test::run_i2i(base, dir);
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("'Steps' in p.png must be at least 1, got -5"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("--steps"), std::string::npos) << r.err;
  r = test::run_i2i(test::with(base, {"--steps", "0"}), dir);
  EXPECT_NE(r.err.find("--steps must be at least 1, got 0"), std::string::npos) << r.err;
  r = test::run_i2i(test::with(base, {"--steps", "2"}), dir);
  EXPECT_NE(r.err.find("'Mask blur' in p.png must be between 0 and 256"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace i2i
