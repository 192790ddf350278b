// `i2i preprocess openpose` and `--control-preprocess openpose` on a ControlNet unit, end to end through the
// binary on the tiny fixture models: the fixtures' pose maps, the unit's map and parameters text, and
// one-line errors (non-zero exit, no output file) for foreign, truncated or pickled model files, a 1x1
// picture and resolutions of 0 or 100000.
#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "io/image.h"
#include "support/cli_run.h"
#include "support/fixtures.h"

namespace i2i {
namespace {

namespace fs = std::filesystem;
using test::fixture_path;
using test::run_i2i;
using test::with;

const std::string kBody = fixture_path("models/annotators/tiny-openpose-body.safetensors").string();
const std::string kDepth = fixture_path("models/annotators/tiny-depth-anything-v2.safetensors").string();
const std::string kControlNet = fixture_path("models/tiny-controlnet-sd15.safetensors").string();
const std::string kAstronaut = fixture_path("images/astronaut_64.png").string();

std::vector<std::string> preprocess(const std::string& image, const std::vector<std::string>& more) {
  return with({"preprocess", "openpose", image, "--annotator-model", kBody}, more);
}

// A failed command: non-zero exit, one line on stderr containing `needle`, and no `output` written.
void expect_one_line_error(const test::CmdResult& r, const std::string& needle, const fs::path& output) {
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
  ASSERT_FALSE(r.err.empty());
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << r.err;
  EXPECT_FALSE(fs::exists(output)) << output;
}

TEST(CliOpenpose, PreprocessWritesTheFixturePoseMaps) {
  const fs::path dir = test::temp_dir("cli_openpose");
  auto r = run_i2i(
      preprocess(kAstronaut, {"--detect-resolution", "128", "--image-resolution", "192", "-o", "a.png"}),
      dir);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(read_image(dir / "a.png").pixels,
            read_image(fixture_path("cases/annotators/openpose/astronaut_64_det128_img192_pose.png")).pixels);
  r = run_i2i(preprocess(fixture_path("cases/annotators/inputs/chelsea_384x512.png").string(),
                         {"--detect-resolution", "128", "--image-resolution", "128", "-o", "c.png"}),
              dir);
  ASSERT_EQ(r.status, 0) << r.err;
  const Image c = read_image(dir / "c.png");
  EXPECT_EQ(c.width, 128);
  EXPECT_EQ(c.height, 192);
  EXPECT_EQ(
      c.pixels,
      read_image(fixture_path("cases/annotators/openpose/chelsea_384x512_det128_img128_pose.png")).pixels);
}

TEST(CliOpenpose, BadInputIsAOneLineErrorAndNoOutput) {
  const fs::path dir = test::temp_dir("cli_openpose_errors");
  const fs::path out = dir / "out.png";
  expect_one_line_error(
      run_i2i({"preprocess", "openpose", kAstronaut, "--annotator-model", kDepth, "-o", "out.png"}, dir),
      "tiny-depth-anything-v2.safetensors: this is a Depth Anything checkpoint", out);

  std::ifstream in(kBody, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::ofstream(dir / "cut.safetensors", std::ios::binary).write(bytes.data(), 100000);
  expect_one_line_error(run_i2i({"preprocess", "openpose", kAstronaut, "--annotator-model",
                                 (dir / "cut.safetensors").string(), "-o", "out.png"},
                                dir),
                        "cut.safetensors", out);

  std::ofstream(dir / "body_pose_model.pth", std::ios::binary) << "PK\x03\x04 a zip archive";
  expect_one_line_error(run_i2i({"preprocess", "openpose", kAstronaut, "--annotator-model",
                                 (dir / "body_pose_model.pth").string(), "-o", "out.png"},
                                dir),
                        "body_pose_model.pth: pickled PyTorch files are not loaded", out);

  Image one(1, 1, 3);
  write_png(dir / "one.png", one);
  expect_one_line_error(run_i2i(preprocess((dir / "one.png").string(), {"-o", "out.png"}), dir), "1x1", out);

  for (const char* v : {"0", "100000"}) {
    expect_one_line_error(run_i2i(preprocess(kAstronaut, {"--detect-resolution", v, "-o", "out.png"}), dir),
                          std::string("--detect-resolution ") + v + " gives", out);
    expect_one_line_error(run_i2i(preprocess(kAstronaut, {"--image-resolution", v, "-o", "out.png"}), dir),
                          std::string("--image-resolution ") + v + " gives", out);
  }
  expect_one_line_error(run_i2i({"preprocess", "openpose", kAstronaut, "-o", "out.png"}, dir),
                        "--annotator-model", out);
  expect_one_line_error(run_i2i(preprocess(kAstronaut, {"--resolution", "0", "-o", "out.png"}), dir),
                        "processor resolution must be between 64 and 4096, got 0", out);
  expect_one_line_error(
      run_i2i(preprocess(kAstronaut, {"--resolution", "128", "--detect-resolution", "128", "-o", "out.png"}),
              dir),
      "--resolution", out);
  // A1111's processor resolution is held to the sides --detect-resolution is held to: 1000x16 at 512 would
  // be a 32000x512 picture (under 4096 x 4096 pixels, but 57 float maps of that size and more).
  write_png(dir / "strip.png", Image(1000, 16, 3));
  expect_one_line_error(
      run_i2i(preprocess((dir / "strip.png").string(), {"--resolution", "512", "-o", "out.png"}), dir),
      "strip.png: processor resolution 512 makes a 32000x512 picture of the 1000x16 image for the pose "
      "detector; at most 4096 pixels a side",
      out);
}

// Short of memory while making the maps (their per-channel resizes run in parallel: an exception escaping
// such a loop would end the program with SIGABRT), the run ends in the one-line error of any other stage.
TEST(CliOpenpose, OutOfMemoryInTheMapsIsAOneLineError) {
  const fs::path dir = test::temp_dir("cli_openpose_oom");
  const test::LimitedResult r = test::run_i2i_limited(
      preprocess(kAstronaut, {"--detect-resolution", "2048", "--image-resolution", "2048", "-o", "out.png"}),
      dir, size_t{600} << 20, 120);
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.status, 1) << "(128 + n: killed by signal n) " << r.err;
  EXPECT_EQ(r.err.rfind("i2i preprocess: error: out of memory while making the pose map of ", 0), 0u)
      << r.err;
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << r.err;
  EXPECT_FALSE(fs::exists(dir / "out.png"));
}

TEST(CliOpenpose, ControlNetUnitRunsThePreprocessor) {
  // The unit runs A1111's openpose module on the source picture at Processor Res and resizes the map to the
  // generation size: the same picture as giving `i2i preprocess openpose --resolution`'s map as the control
  // image.
  const fs::path dir = test::temp_dir("cli_openpose_unit");
  auto r = run_i2i(preprocess(kAstronaut, {"--resolution", "128", "-o", "map.png"}), dir);
  ASSERT_EQ(r.status, 0) << r.err;
  const Image map = read_image(dir / "map.png");
  EXPECT_EQ(map.width, 128);
  EXPECT_EQ(map.height, 128);
  const auto base = with(test::fixture_args("img2img", "models/tiny-sd15.safetensors"),
                         {"--precision", "fp32", "--sampler", "DDIM", "--strength", "0.6", "--control-model",
                          kControlNet, "--control-weight", "0.8"});
  r = run_i2i(with(base, {"--control", kAstronaut, "--control-preprocess", "openpose", "--annotator-model",
                          kBody, "--control-resolution", "128", "-o", "unit.png"}),
              dir);
  ASSERT_EQ(r.status, 0) << r.err;
  r = run_i2i(with(base, {"--control", (dir / "map.png").string(), "-o", "given.png"}), dir);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(read_image(dir / "unit.png").pixels, read_image(dir / "given.png").pixels);
  // Without the ControlNet's guidance the picture differs (the map matters).
  r = run_i2i(with(base, {"--control", kAstronaut, "-o", "photo.png"}), dir);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(read_image(dir / "unit.png").pixels, read_image(dir / "photo.png").pixels);

  const std::string text = read_png_text(dir / "unit.png").at("parameters");
  EXPECT_NE(text.find("ControlNet 0: \"Module: openpose, Model: tiny-controlnet-sd15 ["), std::string::npos)
      << text;
  EXPECT_NE(text.find("Processor Res: 128, Guidance Start: 0"), std::string::npos) << text;
  EXPECT_EQ(text.find("Threshold A"), std::string::npos) << text;
  EXPECT_EQ(text.find("tiny-openpose-body"), std::string::npos) << text;  // no paths by default

  // The unit needs the annotator file, and says which flag gives it.
  r = run_i2i(with(base, {"--control", kAstronaut, "--control-preprocess", "openpose", "-o", "none.png"}),
              dir);
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("--annotator-model"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir / "none.png"));
}

}  // namespace
}  // namespace i2i
