// Pictures people share carry no file system (issue 17): the PNG parameters text of img2img, inpaint and
// ControlNet runs names the models by name and short hash (A1111's `Model hash`, the ControlNet extension's
// `name [hash8]`) and no input at all; --infotext-paths records the absolute paths as before; --from-png
// finds the models again by name and hash (the folder of --model, the current folder) and reproduces the
// picture byte for byte, and asks for --model / --init / --control when it cannot.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "io/file_hash.h"
#include "io/image.h"
#include "io/parameters.h"
#include "support/cli_run.h"
#include "support/fixtures.h"

namespace i2i {
namespace {
namespace fs = std::filesystem;
using test::fixture_path;
using test::run_i2i;
using test::with;

const std::string kInit = fixture_path("cases/inputs/astronaut_64.png").string();
const std::string kMask = fixture_path("cases/inputs/mask_64.png").string();
const std::string kModel = fixture_path("models/tiny-sd15.safetensors").string();
const std::string kControlNet = fixture_path("models/tiny-controlnet-sd15.safetensors").string();
const std::string kControlNetFolder = fixture_path("models/tiny-controlnet-sd15").string();

std::vector<std::string> base_args(const std::string& command) {
  return with(test::fixture_args(command, "models/tiny-sd15.safetensors"), {"--precision", "fp32"});
}

// The flags a --from-png re-run needs besides the picture (the tokenizer is not recorded, nor fp32).
std::vector<std::string> rerun_args(const std::string& command, const std::string& png) {
  return {command,   "--from-png",  png,   "--tokenizer", fixture_path("tokenizer").string(),
          "--quiet", "--precision", "fp32"};
}

std::string parameters_of(const fs::path& png) {
  return read_png_text(png).at("parameters");
}

std::string bytes_of(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string model_hash(const std::string& file) {
  return sha256_file(file).substr(0, 10);
}

// No path separator anywhere in the text (the fixtures' prompts have none), nor any input's name.
void expect_no_paths(const std::string& text, const std::vector<std::string>& inputs) {
  EXPECT_EQ(text.find('/'), std::string::npos) << text;
  EXPECT_EQ(text.find('\\'), std::string::npos) << text;
  for (const std::string& in : inputs)
    EXPECT_EQ(text.find(fs::path(in).filename().string()), std::string::npos) << in << " in " << text;
  for (const char* key : {"Init image", "Mask image", "Model path", "VAE path", "image:", "model path"})
    EXPECT_EQ(text.find(key), std::string::npos) << key << " in " << text;
}

TEST(CliPrivacy, Img2ImgRecordsNamesAndHashesOnly) {
  const fs::path dir = test::temp_dir("privacy_img2img");
  auto r = run_i2i(with(base_args("img2img"), {"--strength", "0.6", "-o", "out.png"}), dir);
  ASSERT_EQ(r.status, 0) << r.err;
  const std::string text = parameters_of(dir / "out.png");
  expect_no_paths(text, {kInit});
  // A1111's order: Size, Model hash, Model, ..., Denoising strength.
  EXPECT_NE(text.find("Size: 64x64, Model hash: " + model_hash(kModel) +
                      ", Model: tiny-sd15, Denoising "
                      "strength: 0.6"),
            std::string::npos)
      << text;

  // A diffusers folder is hashed by its UNet weights; a VAE by its file (A1111: `VAE hash`, `VAE`).
  r = run_i2i(with(base_args("img2img"), {"--model", fixture_path("models/tiny-sd15").string(), "--vae",
                                          fixture_path("models/tiny-sd15/vae").string(), "-o", "folder.png"}),
              dir);
  ASSERT_EQ(r.status, 0) << r.err;
  const std::string folder_text = parameters_of(dir / "folder.png");
  expect_no_paths(folder_text, {kInit});
  const std::string unet = fixture_path("models/tiny-sd15/unet/diffusion_pytorch_model.safetensors").string();
  const std::string vae = fixture_path("models/tiny-sd15/vae/diffusion_pytorch_model.safetensors").string();
  EXPECT_NE(folder_text.find("Model hash: " + model_hash(unet) +
                             ", Model: tiny-sd15, VAE hash: " + model_hash(vae) + ", VAE: vae, "),
            std::string::npos)
      << folder_text;
}

TEST(CliPrivacy, InpaintRecordsNoMaskOrInit) {
  const fs::path dir = test::temp_dir("privacy_inpaint");
  auto r = run_i2i(with(base_args("inpaint"), {"--mask", kMask, "--only-masked", "-o", "out.png"}), dir);
  ASSERT_EQ(r.status, 0) << r.err;
  const std::string text = parameters_of(dir / "out.png");
  expect_no_paths(text, {kInit, kMask});
  EXPECT_NE(text.find("Model hash: " + model_hash(kModel)), std::string::npos) << text;
  EXPECT_NE(text.find("Inpaint area: Only masked"), std::string::npos) << text;
}

TEST(CliPrivacy, ControlNetUnitsNamedAsTheExtensionDoes) {
  const fs::path dir = test::temp_dir("privacy_controlnet");
  const std::string canny = fixture_path("cases/inputs/astronaut_64_canny_100_200.png").string();
  auto r =
      run_i2i(with(base_args("img2img"), {"--control", canny, "--control-model", kControlNet, "--control",
                                          kInit, "--control-model", kControlNetFolder, "--control-preprocess",
                                          "none", "--control-preprocess", "canny", "-o", "out.png"}),
              dir);
  ASSERT_EQ(r.status, 0) << r.err;
  const std::string text = parameters_of(dir / "out.png");
  expect_no_paths(text, {kInit, canny});
  const std::string file_hash = legacy_model_hash(kControlNet);
  const std::string folder_hash =
      legacy_model_hash(fixture_path("models/tiny-controlnet-sd15/diffusion_pytorch_model.safetensors"));
  EXPECT_NE(
      text.find("ControlNet 0: \"Module: none, Model: tiny-controlnet-sd15 [" + file_hash + "], Weight"),
      std::string::npos)
      << text;
  EXPECT_NE(
      text.find("ControlNet 1: \"Module: canny, Model: tiny-controlnet-sd15 [" + folder_hash + "], Weight"),
      std::string::npos)
      << text;
}

// --infotext-paths: i2i's path keys as before (absolute), besides the names and hashes.
TEST(CliPrivacy, InfotextPathsKeepsThePaths) {
  const fs::path dir = test::temp_dir("privacy_paths");
  auto r = run_i2i(with(base_args("inpaint"), {"--mask", kMask, "--control", kInit, "--control-model",
                                               kControlNet, "--infotext-paths", "-o", "out.png"}),
                   dir);
  ASSERT_EQ(r.status, 0) << r.err;
  const GenerationParameters g = parse_parameters(parameters_of(dir / "out.png"));
  EXPECT_EQ(g.get("Init image").value_or(""), kInit);
  EXPECT_EQ(g.get("Mask image").value_or(""), kMask);
  EXPECT_EQ(g.get("Model path").value_or(""), kModel);
  EXPECT_EQ(g.get("ControlNet 0 image").value_or(""), kInit);
  EXPECT_EQ(g.get("ControlNet 0 model path").value_or(""), kControlNet);
  EXPECT_EQ(g.get("Model hash").value_or(""), model_hash(kModel));
  // And --from-png needs nothing else then, as before.
  r = run_i2i(with(rerun_args("inpaint", "out.png"), {"--infotext-paths", "-o", "again.png"}), dir);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(bytes_of(dir / "again.png"), bytes_of(dir / "out.png"));
}

// Given the model's folder (or the model), --from-png makes the same PNG, byte for byte: same pixels, and
// the same text (the models found are those recorded).
TEST(CliPrivacy, FromPngReproducesByteForByteGivenTheModelsFolder) {
  const fs::path dir = test::temp_dir("privacy_rerun");
  const std::string models = fixture_path("models").string();
  auto r = run_i2i(
      with(base_args("img2img"), {"--strength", "0.6", "--control", kInit, "--control-model",
                                  kControlNetFolder, "--control-preprocess", "canny", "-o", "cn.png"}),
      dir);
  ASSERT_EQ(r.status, 0) << r.err;
  // The folder of models: the checkpoint and the ControlNet found by name, told apart from the folder /
  // file of the same name by their hashes.
  r = run_i2i(with(rerun_args("img2img", "cn.png"),
                   {"--model", models, "--init", kInit, "--control", kInit, "-o", "cn-again.png"}),
              dir);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(bytes_of(dir / "cn-again.png"), bytes_of(dir / "cn.png"));

  // Inpainting, the model given as a file: its folder is searched for the rest.
  r = run_i2i(with(base_args("inpaint"), {"--mask", kMask, "--mask-blur", "2", "-o", "in.png"}), dir);
  ASSERT_EQ(r.status, 0) << r.err;
  r = run_i2i(with(rerun_args("inpaint", "in.png"),
                   {"--model", kModel, "--init", kInit, "--mask", kMask, "-o", "in-again.png"}),
              dir);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(bytes_of(dir / "in-again.png"), bytes_of(dir / "in.png"));

  // A renamed model in the current folder is found by its hash (links: the fixtures are not copied; the
  // tiny model needs its config sidecar beside it).
  fs::create_symlink(kModel, dir / "my-renamed-model.safetensors");
  fs::create_symlink(fixture_path("models/tiny-sd15.json"), dir / "my-renamed-model.json");
  r = run_i2i(with(rerun_args("img2img", "cn.png"), {"--init", kInit, "--control", kInit, "--control-model",
                                                     kControlNetFolder, "-o", "renamed.png"}),
              dir);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(read_image(dir / "renamed.png").pixels, read_image(dir / "cn.png").pixels);
  EXPECT_NE(parameters_of(dir / "renamed.png").find("Model: my-renamed-model"), std::string::npos);
}

// A recorded path (--infotext-paths) is used only when the file there still has the recorded hash, and the
// folder given with --model comes first: a file swapped in at the recorded path is never used silently.
TEST(CliPrivacy, FromPngChecksARecordedPathsHash) {
  const fs::path dir = test::temp_dir("privacy_recorded_path");
  fs::create_directories(dir / "own");
  fs::create_symlink(kModel, dir / "own" / "tiny-sd15.safetensors");
  fs::create_symlink(fixture_path("models/tiny-sd15.json"), dir / "own" / "tiny-sd15.json");
  std::vector<std::string> args = base_args("img2img");
  for (size_t i = 0; i + 1 < args.size(); ++i)
    if (args[i] == "--model") args[i + 1] = (dir / "own" / "tiny-sd15.safetensors").string();
  auto r = run_i2i(with(args, {"--steps", "2", "--infotext-paths", "-o", "out.png"}), dir);
  ASSERT_EQ(r.status, 0) << r.err;
  // Another model under the recorded name and path (the fp16 file: another hash).
  fs::remove(dir / "own" / "tiny-sd15.safetensors");
  fs::create_symlink(fixture_path("models/tiny-sd15.fp16.safetensors"),
                     dir / "own" / "tiny-sd15.safetensors");
  r = run_i2i(with(rerun_args("img2img", "out.png"), {"--infotext-paths", "-o", "swapped.png"}), dir);
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find(model_hash(kModel)), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir / "swapped.png"));
  // The models folder given: its file of the recorded name and hash is used, not the recorded path.
  r = run_i2i(with(rerun_args("img2img", "out.png"),
                   {"--model", fixture_path("models").string(), "--infotext-paths", "-o", "again.png"}),
              dir);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(read_image(dir / "again.png").pixels, read_image(dir / "out.png").pixels);
  EXPECT_NE(parameters_of(dir / "again.png").find("Model path: " + kModel), std::string::npos)
      << parameters_of(dir / "again.png");
}

TEST(CliPrivacy, FromPngAsksForWhatItCannotFind) {
  const fs::path dir = test::temp_dir("privacy_rerun_errors");
  auto r = run_i2i(with(base_args("img2img"), {"--strength", "0.5", "--steps", "2", "-o", "out.png"}), dir);
  ASSERT_EQ(r.status, 0) << r.err;
  const std::string hash = model_hash(kModel);
  // The model is not in the current folder: one line naming the name and hash, asking for --model.
  r = run_i2i(with(rerun_args("img2img", "out.png"), {"--init", kInit}), dir);
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("tiny-sd15 (hash " + hash + ")"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("give --model"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("--init"), std::string::npos) << r.err;  // (given)
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  // Neither given: one line asking for both.
  r = run_i2i(rerun_args("img2img", "out.png"), dir);
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("give --model (its file, or the folder holding it) and --init"), std::string::npos)
      << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  // A file of that name with other weights is not taken.
  std::ofstream(dir / "tiny-sd15.safetensors") << "not the model";
  r = run_i2i(with(rerun_args("img2img", "out.png"), {"--init", kInit}), dir);
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("tiny-sd15.safetensors has hash " + sha256_hex("not the model").substr(0, 10)),
            std::string::npos)
      << r.err;
  // The init image is not recorded.
  r = run_i2i(with(rerun_args("img2img", "out.png"), {"--model", kModel}), dir);
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("--init is required"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("does not record it"), std::string::npos) << r.err;
  // Nor a ControlNet unit's image.
  r = run_i2i(with(base_args("img2img"),
                   {"--steps", "2", "--control", kInit, "--control-model", kControlNet, "-o", "cn.png"}),
              dir);
  ASSERT_EQ(r.status, 0) << r.err;
  r = run_i2i(with(rerun_args("img2img", "cn.png"), {"--model", kModel, "--init", kInit}), dir);
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("--control is required for ControlNet 0"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace i2i
