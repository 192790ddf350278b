// `i2i preprocess lineart` / `i2i preprocess softedge` reproduce controlnet_aux's maps of the fixtures
// (README "Annotators, part 2") through the command line; bad input is a one-line error with no output; and
// the four A1111 modules (lineart_realistic, lineart_coarse, softedge_hed, softedge_hedsafe) run on a
// ControlNet unit end to end on the tiny models, recorded in the PNG parameters.
#include <gtest/gtest.h>

#include <fstream>

#include "io/image.h"
#include "support/cli_run.h"
#include "support/fixtures.h"

namespace i2i {
namespace {

namespace fs = std::filesystem;
using test::fixture_path;
using test::run_i2i;
using test::with;

const std::string kLineart = fixture_path("models/annotators/tiny-lineart.safetensors").string();
const std::string kLineartCoarse = fixture_path("models/annotators/tiny-lineart-coarse.safetensors").string();
const std::string kHed = fixture_path("models/annotators/tiny-hed.safetensors").string();

const nlohmann::json& group(const std::string& name) {
  return test::index_json("annotators2.json").at("groups").at(name).at("cases");
}

// The number of lines in s (a trailing newline ends the last one).
int lines(const std::string& s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n + (!s.empty() && s.back() != '\n');
}

TEST(LineartCli, ReproducesControlnetAuxMaps) {
  const fs::path dir = test::temp_dir("lineart_cli_maps");
  for (const auto& c : group("lineart")) {
    const std::string id = c.at("id");
    const bool coarse = c.at("preprocessor") == "lineart_coarse";
    std::vector<std::string> args = {"preprocess",
                                     "lineart",
                                     fixture_path(c.at("input").get<std::string>()).string(),
                                     "--annotator-model",
                                     coarse ? kLineartCoarse : kLineart,
                                     "--detect-resolution",
                                     "128",
                                     "--image-resolution",
                                     std::to_string(c.at("output_size_wh")[0].get<int>()),
                                     "-o",
                                     id + ".png"};
    if (coarse) args.push_back("--coarse");
    const auto r = run_i2i(args, dir);
    ASSERT_EQ(r.status, 0) << id << ": " << r.err;
    test::expect_same_picture(dir / (id + ".png"),
                              fixture_path(c.at("outputs").at("output_png").get<std::string>()));
  }
  for (const auto& c : group("hed")) {
    const std::string id = c.at("id");
    std::vector<std::string> args = {"preprocess",
                                     "softedge",
                                     fixture_path(c.at("input").get<std::string>()).string(),
                                     "--annotator-model",
                                     kHed,
                                     "--detect-resolution",
                                     "128",
                                     "--image-resolution",
                                     std::to_string(c.at("output_size_wh")[0].get<int>()),
                                     "-o",
                                     id + ".png"};
    if (c.at("preprocessor") == "softedge_hedsafe") args.push_back("--safe");
    const auto r = run_i2i(args, dir);
    ASSERT_EQ(r.status, 0) << id << ": " << r.err;
    test::expect_same_picture(dir / (id + ".png"),
                              fixture_path(c.at("outputs").at("output_png").get<std::string>()));
  }
}

TEST(LineartCli, DefaultsAndHelp) {
  const fs::path dir = test::temp_dir("lineart_cli_defaults");
  const std::string img = fixture_path("cases/annotators/inputs/chelsea_384x512.png").string();
  // Default resolutions 512: chelsea 384x512 -> 512x704 (704 = round(682.7 / 64) * 64), default names.
  auto r = run_i2i({"preprocess", "lineart", img, "--annotator-model", kLineart, "--coarse"}, dir);
  ASSERT_EQ(r.status, 0) << r.err;
  const Image map = read_image(dir / "lineart_coarse.png");
  EXPECT_EQ(map.width, 512);
  EXPECT_EQ(map.height, 704);
  r = run_i2i({"preprocess", "softedge", img, "--annotator-model", kHed, "--image-resolution", "64"}, dir);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(read_image(dir / "softedge.png").width, 64);
  for (const char* name : {"lineart", "softedge"}) {
    r = run_i2i({"preprocess", name, "--help"}, dir);
    EXPECT_EQ(r.status, 0);
    EXPECT_NE(r.out.find("--annotator-model"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("--detect-resolution"), std::string::npos) << r.out;
  }
  r = run_i2i({"preprocess", "--help"}, dir);
  EXPECT_NE(r.out.find("lineart"), std::string::npos);
  EXPECT_NE(r.out.find("softedge"), std::string::npos);
}

TEST(LineartCli, BadInputIsAOneLineErrorWithoutOutput) {
  const fs::path dir = test::temp_dir("lineart_cli_errors");
  const std::string img = fixture_path("images/astronaut_64.png").string();
  // A truncated checkpoint, a pickle (refused by name, never read), a pickle renamed .safetensors.
  {
    std::ifstream in(kLineart, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::ofstream(dir / "cut.safetensors", std::ios::binary).write(bytes.data(), bytes.size() / 3);
    std::ofstream(dir / "sk_model.pth", std::ios::binary) << std::string_view("PK\x03\x04 not opened", 15);
    std::ofstream(dir / "renamed.safetensors", std::ios::binary) << std::string_view("\x80\x02}q\x00.", 6);
  }
  Image one(1, 1, 3);
  write_png(dir / "one.png", one);
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"lineart", img, "--annotator-model", kHed},
       "is a HED soft-edge (ControlNetHED) checkpoint, not a line-art"},
      {{"softedge", img, "--annotator-model", kLineart}, "is a line-art (sk_model) checkpoint, not a HED"},
      {{"softedge", img, "--annotator-model",
        fixture_path("models/annotators/tiny-openpose-body.safetensors")},
       "is an OpenPose body checkpoint"},
      {{"lineart", img, "--annotator-model", (dir / "cut.safetensors").string()}, "cut.safetensors"},
      {{"lineart", img, "--annotator-model", (dir / "sk_model.pth").string()},
       "pickled checkpoints are not loaded"},
      {{"softedge", img, "--annotator-model", (dir / "renamed.safetensors").string()}, "renamed.safetensors"},
      {{"lineart", (dir / "one.png").string(), "--annotator-model", kLineart}, "at least 16 pixels"},
      {{"softedge", (dir / "one.png").string(), "--annotator-model", kHed}, "at least 16 pixels"},
      {{"lineart", img, "--annotator-model", kLineart, "--detect-resolution", "0"},
       "--detect-resolution must be between 64 and 4096, got 0"},
      {{"softedge", img, "--annotator-model", kHed, "--image-resolution", "100000"},
       "--image-resolution must be between 64 and 4096, got 100000"},
      {{"lineart", img}, "runs a network: give its file with --annotator-model"},
      {{"softedge", img, "--annotator-model", (dir / "missing.safetensors").string()}, "missing.safetensors"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> args = {"preprocess"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    args.insert(args.end(), {"-o", "out.png"});
    const auto r = run_i2i(args, dir);
    EXPECT_NE(r.status, 0) << c.message;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << r.err;
    EXPECT_EQ(lines(r.err), 1) << r.err;
    EXPECT_FALSE(fs::exists(dir / "out.png")) << c.message;
  }
}

TEST(LineartCli, ModulesRunOnAControlNetUnitAndAreRecorded) {
  const fs::path dir = test::temp_dir("lineart_cli_units");
  const std::string photo = fixture_path("cases/inputs/astronaut_64.png").string();
  std::vector<std::vector<uint8_t>> pictures;
  for (const auto& [module, model] :
       std::vector<std::pair<std::string, std::string>>{{"lineart_realistic", kLineart},
                                                        {"lineart_coarse", kLineartCoarse},
                                                        {"softedge_hed", kHed},
                                                        {"softedge_hedsafe", kHed}}) {
    const std::string out = module + ".png";
    const auto r =
        run_i2i(with(test::fixture_args("img2img", "models/tiny-sd15.safetensors"),
                     {"--precision", "fp32", "--steps", "2", "--strength", "0.6", "--control", photo,
                      "--control-model", fixture_path("models/tiny-controlnet-sd15.safetensors").string(),
                      "--control-preprocess", module, "--annotator-model", model, "--control-resolution",
                      "64", "-o", out}),
                dir);
    ASSERT_EQ(r.status, 0) << module << ": " << r.err;
    const std::string text = read_png_text(dir / out).at("parameters");
    EXPECT_NE(text.find("ControlNet 0: \"Module: " + module + ", Model: tiny-controlnet-sd15"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("Processor Res: 64"), std::string::npos) << text;
    pictures.push_back(read_image(dir / out).pixels);
  }
  // Each module's map steers the picture: no two outputs are the same.
  for (size_t i = 0; i < pictures.size(); ++i)
    for (size_t j = i + 1; j < pictures.size(); ++j) EXPECT_NE(pictures[i], pictures[j]) << i << " vs " << j;
  // A unit without its annotator network is a one-line error before anything is generated.
  const auto r = run_i2i(with(test::fixture_args("img2img", "models/tiny-sd15.safetensors"),
                              {"--control", photo, "--control-model",
                               fixture_path("models/tiny-controlnet-sd15.safetensors").string(),
                               "--control-preprocess", "softedge_hed", "-o", "none.png"}),
                         dir);
  EXPECT_NE(r.status, 0);
  EXPECT_EQ(lines(r.err), 1) << r.err;
  EXPECT_FALSE(fs::exists(dir / "none.png"));
}

}  // namespace
}  // namespace i2i
