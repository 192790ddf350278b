// SDXL through the command line: the size / crop flags (W,H and X,Y, diffusers' tuples turned around) and
// the refiner's aesthetic-score flags give diffusers' pictures (cases/sdxl.json), the parameters text
// records them and --from-png makes the same picture again; the refiner hand-off (--refiner,
// --refiner-switch-at) is recorded as A1111 writes it and read back.
#include <gtest/gtest.h>

#include "io/image.h"
#include "io/parameters.h"
#include "support/cli_run.h"
#include "support/fixtures.h"

namespace i2i {
namespace {
namespace fs = std::filesystem;

using test::with;

const char* const kIndex = "sdxl.json";

std::vector<std::string> sdxl_args(const std::string& model) {
  return with(
      test::fixture_args("img2img", model),
      {"--init", test::fixture_path("cases/sdxl/inputs/astronaut_64.png").string(), "--precision", "fp32"});
}

fs::path case_picture(const std::string& id) {
  const auto& c = test::find_index_case(kIndex, "sdxl_pipelines", id);
  return test::case_png(c.at("outputs").at("images_png").at(0).get<std::string>());
}

std::string parameters_of(const fs::path& png) {
  return read_png_text(png)["parameters"];
}

// A re-run from the picture alone (models found by name and hash in the models folder).
test::CmdResult rerun(const fs::path& dir, const fs::path& png, const std::string& out) {
  return test::run_i2i(
      {"img2img", "--from-png", png.string(), "--model", test::fixture_path("models").string(), "--init",
       test::fixture_path("cases/sdxl/inputs/astronaut_64.png").string(), "--tokenizer",
       test::fixture_path("tokenizer").string(), "--precision", "fp32", "--quiet", "-o", out},
      dir);
}

TEST(SdxlCli, SizeFlagsGiveDiffusersPictureAndReadBack) {
  const fs::path dir = test::temp_dir("sdxl_cli_sizes");
  // diffusers: original_size (128, 96) = height 128, width 96; crops (16, 8) = top 16, left 8.
  const test::CmdResult r =
      test::run_i2i(with(sdxl_args("models/tiny-sdxl.fp16.safetensors"),
                         {"--sampler", "Euler a", "--strength", "0.6", "--original-size", "96,128",
                          "--crops-top-left", "8,16", "--target-size", "64,64", "-o", "out.png"}),
                    dir);
  ASSERT_EQ(r.status, 0) << r.err;
  test::expect_same_picture(dir / "out.png", case_picture("sdxl_img2img_sizes_Euler_a_s0.6"));
  const std::string t = parameters_of(dir / "out.png");
  EXPECT_NE(t.find("SDXL original size: \"96,128\""), std::string::npos) << t;
  EXPECT_NE(t.find("SDXL crops top left: \"8,16\""), std::string::npos) << t;
  EXPECT_NE(t.find("SDXL target size: \"64,64\""), std::string::npos) << t;
  EXPECT_EQ(t.find("SDXL negative"), std::string::npos) << t;
  ASSERT_EQ(rerun(dir, dir / "out.png", "again.png").status, 0);
  EXPECT_EQ(read_image(dir / "again.png").pixels, read_image(dir / "out.png").pixels);
  EXPECT_EQ(parameters_of(dir / "again.png"), t);
}

TEST(SdxlCli, RefinerFlagsGiveDiffusersPicture) {
  const fs::path dir = test::temp_dir("sdxl_cli_refiner");
  // original_size (96, 128), crops (0, 8), negative_original_size (64, 64), negative crops (2, 2).
  const test::CmdResult r = test::run_i2i(
      with(sdxl_args("models/tiny-sdxl-refiner"),
           {"--sampler", "Euler a", "--strength", "0.6", "--aesthetic-score", "7",
            "--negative-aesthetic-score", "2", "--original-size", "128,96", "--crops-top-left", "8,0",
            "--negative-original-size", "64,64", "--negative-crops-top-left", "2,2", "-o", "out.png"}),
      dir);
  ASSERT_EQ(r.status, 0) << r.err;
  test::expect_same_picture(dir / "out.png", case_picture("sdxl_refiner_img2img_Euler_a_s0.6_aes7.0_2.0"));
  const std::string t = parameters_of(dir / "out.png");
  EXPECT_NE(t.find("Aesthetic score: 7, Negative aesthetic score: 2"), std::string::npos) << t;
  EXPECT_NE(t.find("SDXL negative crops top left: \"2,2\""), std::string::npos) << t;
}

TEST(SdxlCli, RefinerHandOffIsRecordedAndReadBack) {
  const fs::path dir = test::temp_dir("sdxl_cli_handoff");
  const auto args = with(sdxl_args("models/tiny-sdxl.fp16.safetensors"), {"--strength", "0.6"});
  ASSERT_EQ(test::run_i2i(with(args, {"-o", "base.png"}), dir).status, 0);
  const test::CmdResult r = test::run_i2i(
      with(args, {"--refiner", test::fixture_path("models/tiny-sdxl-refiner.fp16.safetensors").string(), "-o",
                  "refined.png"}),
      dir);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(read_image(dir / "refined.png").pixels, read_image(dir / "base.png").pixels);
  const std::string t = parameters_of(dir / "refined.png");
  const size_t at = t.find(", Refiner: tiny-sdxl-refiner");
  ASSERT_NE(at, std::string::npos) << t;
  EXPECT_NE(t.find(" [", at), std::string::npos) << t;  // the refiner's short hash
  EXPECT_NE(t.find("Refiner switch at: 0.8"), std::string::npos) << t;
  // --from-png finds the refiner by name and hash beside the model.
  ASSERT_EQ(rerun(dir, dir / "refined.png", "again.png").status, 0);
  EXPECT_EQ(read_image(dir / "again.png").pixels, read_image(dir / "refined.png").pixels);
  EXPECT_EQ(parameters_of(dir / "again.png"), t);
  // A switch no step reaches (1): the base picture, and no Refiner in the text (as A1111).
  ASSERT_EQ(test::run_i2i(with(args, {"--refiner", test::fixture_path("models/tiny-sdxl-refiner").string(),
                                      "--refiner-switch-at", "1", "-o", "never.png"}),
                          dir)
                .status,
            0);
  EXPECT_EQ(read_image(dir / "never.png").pixels, read_image(dir / "base.png").pixels);
  EXPECT_EQ(parameters_of(dir / "never.png").find("Refiner"), std::string::npos);
}

TEST(SdxlCli, SwitchWithoutRefinerIsRefused) {
  const fs::path dir = test::temp_dir("sdxl_cli_switch");
  const test::CmdResult r =
      test::run_i2i(with(sdxl_args("models/tiny-sdxl"), {"--refiner-switch-at", "0.5", "-o", "x.png"}), dir);
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("--refiner-switch-at needs a --refiner"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace i2i
