// `i2i preprocess depth` and `--control-preprocess depth_anything_v2` end to end on the tiny fixture models:
// the fixtures' maps through the command line, a ControlNet img2img fed by the built-in preprocessor (the
// same picture as feeding it the map `i2i preprocess depth` wrote), the parameters text and --from-png, and
// one-line errors with no output for bad input.
#include <gtest/gtest.h>

#include <fstream>

#include "io/image.h"
#include "io/parameters.h"
#include "preprocess/depth_map.h"
#include "support/cli_run.h"
#include "support/fixtures.h"

namespace i2i {
namespace {
namespace fs = std::filesystem;
using test::fixture_path;
using test::run_i2i;
using test::with;

const std::string kDepthModel = fixture_path("models/annotators/tiny-depth-anything-v2.safetensors").string();
const std::string kPoseModel = fixture_path("models/annotators/tiny-openpose-body.safetensors").string();
const std::string kAstronaut = fixture_path("images/astronaut_64.png").string();
const std::string kChelsea = fixture_path("cases/annotators/inputs/chelsea_384x512.png").string();
const std::string kControlNet = fixture_path("models/tiny-controlnet-sd15.safetensors").string();

void expect_within_one_level(const Image& got, const Image& want, const std::string& what) {
  ASSERT_EQ(got.width, want.width) << what;
  ASSERT_EQ(got.height, want.height) << what;
  ASSERT_EQ(got.channels, want.channels) << what;
  for (size_t i = 0; i < got.pixels.size(); ++i)
    ASSERT_LE(std::abs(int(got.pixels[i]) - int(want.pixels[i])), 1) << what << " value " << i;
}

TEST(CliPreprocessDepth, WritesTheFixturesMaps) {
  const auto dir = test::temp_dir("cli_depth_maps");
  const std::string ref = "cases/annotators/depth_anything_v2/";
  struct Case {
    std::string input, resolution, stem;
  };
  for (const Case& c :
       {Case{kAstronaut, "96", "astronaut_64_res96"}, Case{kChelsea, "100", "chelsea_384x512_res100"}}) {
    auto r = run_i2i({"preprocess", "depth", c.input, "--annotator-model", kDepthModel, "--resolution",
                      c.resolution, "-o", c.stem + "_gray.png"},
                     dir);
    ASSERT_EQ(r.status, 0) << r.err;
    r = run_i2i({"preprocess", "depth", c.input, "--annotator-model", kDepthModel, "--resolution",
                 c.resolution, "--colored", "-o", c.stem + "_colored.png"},
                dir);
    ASSERT_EQ(r.status, 0) << r.err;
    const Image gray = read_image(dir / (c.stem + "_gray.png"));
    expect_within_one_level(gray, read_image(fixture_path(ref + c.stem + "_gray.png")), c.stem);
    // The coloured map: the grey one through the colour table (a grey level off gives the neighbouring
    // colour).
    const Image colored = read_image(dir / (c.stem + "_colored.png"));
    EXPECT_EQ(colored.pixels, colorize_inferno(gray).pixels) << c.stem;
    EXPECT_EQ(colored.width, read_image(fixture_path(ref + c.stem + "_colored.png")).width);
  }
}

TEST(CliPreprocessDepth, BadInputIsOneLineAndWritesNothing) {
  const auto dir = test::temp_dir("cli_depth_errors");
  {
    std::ifstream in(kDepthModel, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::ofstream(dir / "truncated.safetensors", std::ios::binary).write(bytes.data(), 1000);
    std::ofstream(dir / "depth_anything_v2_vitl.pth", std::ios::binary) << "PK\x03\x04 a torch.save archive";
    write_png(dir / "one.png", Image(1, 1, 3));
    // 1000x16: the network would see it at 32375x518 (85 544 tokens, gigabytes); 8:1 is the longest taken.
    write_png(dir / "strip.png", Image(1000, 16, 3));
  }
  struct Case {
    std::vector<std::string> args;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {{kAstronaut, "--annotator-model", kPoseModel}, "not a Depth Anything V2 checkpoint"},
      {{kAstronaut, "--annotator-model", "truncated.safetensors"}, "truncated.safetensors"},
      {{kAstronaut, "--annotator-model", "depth_anything_v2_vitl.pth"}, "python -c"},
      {{"one.png", "--annotator-model", kDepthModel}, "one.png: the picture is 1x1"},
      {{"strip.png", "--annotator-model", kDepthModel},
       "strip.png: a 1000x16 picture is too long for Depth Anything"},
      {{kAstronaut, "--annotator-model", kDepthModel, "--resolution", "0"}, "--resolution must be between"},
      {{kAstronaut, "--annotator-model", kDepthModel, "--resolution", "100000"}, "got 100000"},
      {{kAstronaut}, "--annotator-model"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> args = {"preprocess", "depth"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    args.insert(args.end(), {"-o", "out.png"});
    const auto r = run_i2i(args, dir);
    EXPECT_NE(r.status, 0) << c.expect;
    EXPECT_NE(r.err.find(c.expect), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << r.err;  // one line
    EXPECT_FALSE(fs::exists(dir / "out.png")) << c.expect;
  }
}

std::vector<std::string> img2img_args() {
  return with(
      test::fixture_args("img2img", "models/tiny-sd15.safetensors"),
      {"--precision", "fp32", "--sampler", "DDIM", "--strength", "0.6", "--control-model", kControlNet});
}

std::string parameters_of(const fs::path& png) {
  return read_png_text(png).at("parameters");
}

TEST(CliControlDepth, BuiltInPreprocessorFeedsTheControlNet) {
  const auto dir = test::temp_dir("cli_control_depth");
  auto r = run_i2i(with(img2img_args(),
                        {"--control", kAstronaut, "--control-preprocess", "depth_anything_v2",
                         "--annotator-model", kDepthModel, "--control-resolution", "96", "-o", "depth.png"}),
                   dir);
  ASSERT_EQ(r.status, 0) << r.err;
  const std::string text = parameters_of(dir / "depth.png");
  EXPECT_NE(text.find("ControlNet 0: \"Module: depth_anything_v2, Model: tiny-controlnet-sd15"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("Low Vram: False, Processor Res: 96, Guidance Start: 0"), std::string::npos) << text;
  EXPECT_EQ(text.find("annotator"), std::string::npos) << text;  // no paths by default

  // The same as giving the map `i2i preprocess depth` writes as a ready control image.
  r = run_i2i({"preprocess", "depth", kAstronaut, "--annotator-model", kDepthModel, "--resolution", "96",
               "-o", "map.png"},
              dir);
  ASSERT_EQ(r.status, 0) << r.err;
  r = run_i2i(with(img2img_args(), {"--control", "map.png", "-o", "from_map.png"}), dir);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(read_image(dir / "depth.png").pixels, read_image(dir / "from_map.png").pixels);
  // Without a ControlNet the picture differs (the unit does something).
  r = run_i2i(with(test::fixture_args("img2img", "models/tiny-sd15.safetensors"),
                   {"--precision", "fp32", "--sampler", "DDIM", "--strength", "0.6", "-o", "plain.png"}),
              dir);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(read_image(dir / "depth.png").pixels, read_image(dir / "plain.png").pixels);

  // --from-png re-runs it given the pictures and the annotator (the text records no paths).
  r = run_i2i({"img2img", "--from-png", "depth.png", "--model", fixture_path("models").string(), "--init",
               fixture_path("cases/inputs/astronaut_64.png").string(), "--control", kAstronaut,
               "--annotator-model", kDepthModel, "--tokenizer", fixture_path("tokenizer").string(), "--quiet",
               "--precision", "fp32", "-o", "again.png"},
              dir);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(read_image(dir / "again.png").pixels, read_image(dir / "depth.png").pixels);
}

// The picture's errors name the unit and its file; a missing annotator names the unit.
TEST(CliControlDepth, UnitErrorsNameTheUnit) {
  const auto dir = test::temp_dir("cli_control_depth_units");
  write_png(dir / "strip.png", Image(1000, 16, 3));
  auto r =
      run_i2i(with(img2img_args(), {"--control", "strip.png", "--control-preprocess", "depth_anything_v2",
                                    "--annotator-model", kDepthModel, "-o", "out.png"}),
              dir);
  EXPECT_NE(r.status, 0);
  // (The picture's own size: refused before it is scaled to 32000x512.)
  EXPECT_NE(r.err.find("ControlNet 0 (strip.png): a 1000x16 picture is too long for Depth Anything"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << r.err;
  EXPECT_FALSE(fs::exists(dir / "out.png"));
  // Two units, the second needing a network none is given for (an empty models folder).
  r = run_i2i(with(img2img_args(), {"--control", kAstronaut, "--control-preprocess", "canny", "--control",
                                    kAstronaut, "--control-model", kControlNet, "--control-preprocess",
                                    "depth_anything_v2", "--models-dir", dir.string(), "-o", "out.png"}),
              dir);
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("ControlNet 1: preprocessor depth_anything_v2 runs a network"), std::string::npos)
      << r.err;
  EXPECT_FALSE(fs::exists(dir / "out.png"));
}

TEST(CliControlDepth, UnitErrorsNameTheFlag) {
  const auto dir = test::temp_dir("cli_control_depth_errors");
  struct Case {
    std::vector<std::string> more;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {{"--control-preprocess", "depth_anything_v2"}, "give its file with --annotator-model"},
      {{"--control-preprocess", "depth_anything_v2", "--annotator-model", kDepthModel, "--control-resolution",
        "0"},
       "--control-resolution must be between 64 and 4096, got 0"},
      {{"--control-preprocess", "depth_anything_v2", "--annotator-model", kPoseModel},
       "not a Depth Anything V2 checkpoint"},
      // The i-th --annotator-model belongs to the i-th --control: never ignored in silence.
      {{"--control-preprocess", "canny", "--annotator-model", kDepthModel},
       "ControlNet 0: preprocessor canny runs no network, yet --annotator-model gives it"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> more = {"--control", kAstronaut};
    more.insert(more.end(), c.more.begin(), c.more.end());
    more.insert(more.end(), {"-o", "out.png"});
    const auto r = run_i2i(with(img2img_args(), more), dir);
    EXPECT_NE(r.status, 0) << c.expect;
    EXPECT_NE(r.err.find(c.expect), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << r.err;
    EXPECT_FALSE(fs::exists(dir / "out.png")) << c.expect;
  }
}

}  // namespace
}  // namespace i2i
