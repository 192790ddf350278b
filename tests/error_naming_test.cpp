// Errors name what is at fault (issue 14 items 7 and 10): a value from a --from-png picture by its key in
// that picture (not a flag the user never gave), keys the picture records that i2i cannot honour as a
// warning, a weight of the wrong dtype by its tensor, a config field by its config file, a symbolic link
// loop or dangling link as such, invalid UTF-8 by the text it is in.
#include <gtest/gtest.h>

#include <fstream>

#include "io/image.h"
#include "io/parameters.h"
#include "io/regular_file.h"
#include "models/checkpoint.h"
#include "models/clip_text_loader.h"
#include "models/controlnet_load.h"
#include "models/weights.h"
#include "pipelines/generation_params.h"
#include "pipelines/infotext.h"
#include "pipelines/sd_model.h"
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

// Links the fixture `weights` into `dir` as `name`.safetensors beside `name`.json: the fixture sidecar
// `sidecar` with entry[field] = value. Returns the new sidecar's path.
fs::path linked_with_sidecar(const fs::path& dir, const std::string& name, const char* weights,
                             const char* sidecar, const char* entry, const char* field,
                             const nlohmann::json& value) {
  fs::create_symlink(test::models_dir() / weights, dir / (name + ".safetensors"));
  nlohmann::json cfg = nlohmann::json::parse(std::ifstream(test::models_dir() / sidecar));
  cfg[entry][field] = value;
  const fs::path json = dir / (name + ".json");
  std::ofstream(json) << cfg.dump();
  return json;
}

// `e` names the sidecar's entry and the field, and not the weights file.
void expect_names_sidecar(const std::string& e, const fs::path& sidecar, const std::string& entry,
                          const char* field, const char* weights_name) {
  EXPECT_NE(e.find(sidecar.string() + ", entry '" + entry + "'"), std::string::npos) << e;
  EXPECT_NE(e.find(field), std::string::npos) << e;
  EXPECT_EQ(e.find(weights_name), std::string::npos) << e;
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

// A single-file checkpoint's text encoder config comes from its sidecar (`<stem>.json`, or a --model-config
// file): errors about its fields name that file and entry, not the weights.
TEST(ErrorNaming, SidecarTextEncoderConfigErrorsNameTheSidecar) {
  const fs::path dir = test::temp_dir("naming_te_sidecar");
  const fs::path m = linked_with_sidecar(dir, "m", "tiny-sd15.safetensors", "tiny-sd15.json", "text_encoder",
                                         "num_attention_heads", "four");
  SdModelOptions options;
  options.tokenizer = test::fixtures_dir() / "tokenizer";
  std::string e = error_of([&] { load_sd_model(dir / "m.safetensors", options); });
  expect_names_sidecar(e, m, "text_encoder", "num_attention_heads", "m.safetensors");

  // A size the weights contradict: the same file is named. And through --model-config.
  nlohmann::json cfg = nlohmann::json::parse(std::ifstream(test::models_dir() / "tiny-sd15.json"));
  cfg["text_encoder"]["num_attention_heads"] = 4;
  cfg["text_encoder"]["hidden_size"] = 32;
  std::ofstream(dir / "other.json") << cfg.dump();
  fs::remove(m);
  options.checkpoint.model_config = dir / "other.json";
  e = error_of([&] { load_sd_model(dir / "m.safetensors", options); });
  expect_names_sidecar(e, dir / "other.json", "text_encoder", "hidden_size", "m.safetensors");
}

// The same for the UNet's and the VAE's entries of a sidecar: the file and entry, not "<weights> (config)".
TEST(ErrorNaming, SidecarUnetAndVaeConfigErrorsNameTheSidecar) {
  const fs::path dir = test::temp_dir("naming_unet_vae_sidecar");
  fs::create_symlink(test::models_dir() / "tiny-sd15.safetensors", dir / "m.safetensors");
  const nlohmann::json good = nlohmann::json::parse(std::ifstream(test::models_dir() / "tiny-sd15.json"));
  SdModelOptions options;
  options.tokenizer = test::fixtures_dir() / "tokenizer";
  for (const char* component : {"unet", "vae"}) {
    nlohmann::json cfg = good;
    cfg[component]["norm_num_groups"] = "eight";
    std::ofstream(dir / "m.json") << cfg.dump();
    const std::string e = error_of([&] { load_sd_model(dir / "m.safetensors", options); });
    expect_names_sidecar(e, dir / "m.json", component, "norm_num_groups", "m.safetensors");
  }
}

// A ControlNet single file's sidecar, and the sidecar of a --vae file: the same.
TEST(ErrorNaming, ControlNetAndVaeOverrideSidecarErrorsNameTheSidecar) {
  const fs::path dir = test::temp_dir("naming_cn_vae_sidecar");
  const fs::path cn =
      linked_with_sidecar(dir, "cn", "tiny-controlnet-sd15.safetensors", "tiny-controlnet-sd15.json",
                          "controlnet", "norm_num_groups", "eight");
  std::string e = error_of([&] { load_controlnet(open_checkpoint(dir / "cn.safetensors")); });
  expect_names_sidecar(e, cn, "controlnet", "norm_num_groups", "cn.safetensors");

  // --vae with a sidecar of its own beside it.
  const fs::path v = linked_with_sidecar(dir, "v", "tiny-sd15.safetensors", "tiny-sd15.json", "vae",
                                         "norm_num_groups", "eight");
  SdModelOptions options;
  options.tokenizer = test::fixtures_dir() / "tokenizer";
  options.vae = dir / "v.safetensors";
  e = error_of([&] { load_sd_model(test::models_dir() / "tiny-sd15.safetensors", options); });
  expect_names_sidecar(e, v, "vae", "norm_num_groups", "v.safetensors");
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

// The units of a picture's text are numbered among every kind of unit ("ControlNet 0" an IP-Adapter,
// "ControlNet 1" a reference unit, ...): errors about one name it by its key as written, not by its place
// among the units of its kind.
TEST(ErrorNaming, PngUnitsAreNamedByTheirKeys) {
  const GenerationParameters info = parse_parameters(
      "a cat\nSteps: 2, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 64x64, "
      "ControlNet 0: \"Module: ip-adapter_clip_sd15, Model: ip-adapter_sd15, Weight: 20, Resize Mode: Crop "
      "and Resize, Guidance Start: 0, Guidance End: 1\", "
      "ControlNet 1: \"Module: reference_only, Model: None, Weight: 1, Threshold A: 0.5\", "
      "ControlNet 4: \"Module: none, Model: cn, Weight: 50, Guidance Start: 0, Guidance End: 1\"");
  GenerationParams p;
  apply_infotext(info, p);
  ASSERT_EQ(p.controls.size(), 1u);
  ASSERT_EQ(p.ip_adapters.size(), 1u);
  EXPECT_EQ(control_unit_name(p.controls[0], 0), "ControlNet 4");
  EXPECT_EQ(ip_adapter_unit_name(p.ip_adapters[0], 0), "ControlNet 0 (IP-Adapter)");
  p.controls[0].model = "cn.safetensors";
  p.ip_adapters[0].model = "ip.safetensors";
  std::string e = error_of([&] { p.validate(); });
  EXPECT_EQ(e.rfind("ControlNet 4: ", 0), 0u) << e;
  EXPECT_NE(e.find("control_weight must be between 0 and 10"), std::string::npos) << e;
  p.controls[0].weight = 1;
  e = error_of([&] { p.validate(); });
  EXPECT_EQ(e.rfind("ControlNet 0 (IP-Adapter): ", 0), 0u) << e;
  // Units of the flags: by their place among the flags of their kind.
  p.controls.assign(2, ControlParams{});
  p.controls[0].model = "cn.safetensors";
  p.controls[1].weight = 50;
  p.ip_adapters.clear();
  e = error_of([&] { p.validate(); });
  EXPECT_EQ(e.rfind("ControlNet 1: ", 0), 0u) << e;
  EXPECT_EQ(ip_adapter_unit_name(IpAdapterParams{}, 2), "IP-Adapter 2");
}

// The same through the CLI: a picture whose one ControlNet unit is "ControlNet 2" (after an IP-Adapter
// unit) and records no image for it.
TEST(ErrorNaming, CliNamesPngUnitsByTheirKeys) {
  const fs::path dir = test::temp_dir("naming_png_units");
  write_png(
      dir / "p.png", Image(64, 64, 3),
      {{"parameters",
        "a cat\nSteps: 2, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 64x64, Denoising strength: 0.5, "
        "ControlNet 0: \"Module: ip-adapter_clip_sd15, Model: ip-adapter_sd15, Weight: 1\", "
        "ControlNet 2: \"Module: none, Model: tiny-controlnet-sd15, Weight: 1, Guidance Start: 0, "
        "Guidance End: 1\""}});
  const test::CmdResult r =
      test::run_i2i({"img2img", "--from-png", "p.png", "--model",
                     test::fixture_path("models/tiny-sd15.safetensors").string(), "--tokenizer",
                     test::fixture_path("tokenizer").string(), "--init",
                     test::fixture_path("cases/inputs/astronaut_64.png").string(), "--quiet"},
                    dir);
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("for ControlNet 2 (one per recorded unit"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("ControlNet 0 "), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("ControlNet 1"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace i2i
