// The IP-Adapter flags of the command line (the contract): --ip-adapter FILE --ip-adapter-image IMAGE
// --ip-adapter-scale S --ip-adapter-mode M --ip-adapter-layers L --image-encoder DIR, each --ip-adapter
// taking the unit flags after it; the fixtures' pictures reproduced with the single-file model and the
// diffusers folder; --from-png; bad input (one line, non-zero exit, no file); `i2i style-transfer`.
#include <gtest/gtest.h>

#include "io/image.h"
#include "io/parameters.h"
#include "support/cli_run.h"
#include "support/fixtures.h"

namespace i2i {
namespace {
namespace fs = std::filesystem;

std::string adapter(const std::string& rel) {
  return test::fixture_path("models/tiny-ip-adapter/" + rel).string();
}
const std::string kBase = "models/ip-adapter_sd15.safetensors";
const std::string kPlus = "models/ip-adapter-plus_sd15.safetensors";
std::string chelsea() {
  return test::fixture_path("images/chelsea_512.png").string();
}
fs::path case_png(const std::string& id) {
  return test::fixture_path("cases/ip_adapter/pipelines/" + id + ".png");
}

std::vector<std::string> args(const std::string& model, const std::vector<std::string>& more) {
  return test::with(test::fixture_args("img2img", model),
                    test::with({"--strength", "0.6", "--precision", "fp32", "-o", "out.png"}, more));
}

std::string params(const fs::path& png) {
  return read_png_text(png)["parameters"];
}

TEST(IpAdapterCli, ReproducesTheFixturePicturesAndRerunsFromPng) {
  struct Case {
    std::string id, model;
    std::vector<std::string> flags;
  };
  const std::vector<Case> cases = {
      {"sd15_ip_plus_Euler_a_style_up_blocks.1.attentions.1",
       "models/tiny-sd15.safetensors",
       {"--sampler", "Euler a", "--ip-adapter", adapter(kPlus), "--ip-adapter-image", chelsea(),
        "--ip-adapter-layers", "up_blocks.1.attentions.1=1"}},
      {"sd15_ip_base_DDIM_scale0.5",
       "models/tiny-sd15",
       {"--sampler", "DDIM", "--ip-adapter", adapter(kBase), "--ip-adapter-image", chelsea(),
        "--ip-adapter-scale", "0.5", "--image-encoder", adapter("models/image_encoder")}},
      {"sd15_ip_base_Euler_a_scale1.0_cfg1",
       "models/tiny-sd15.safetensors",
       {"--sampler", "Euler a", "--cfg-scale", "1", "--ip-adapter", adapter(kBase), "--ip-adapter-image",
        chelsea()}},
      {"sd15_ip_plus_DDIM_up_blocks_only",
       "models/tiny-sd15",
       {"--sampler", "DDIM", "--ip-adapter", adapter(kPlus), "--ip-adapter-image", chelsea(),
        "--ip-adapter-layers", "up_blocks=1"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.id);
    const fs::path dir = test::temp_dir("ip_cli_" + c.id);
    // With --infotext-paths the picture records its files, and --from-png alone makes it again.
    test::CmdResult r = test::run_i2i(test::with(args(c.model, c.flags), {"--infotext-paths"}), dir);
    ASSERT_EQ(r.status, 0) << r.err;
    test::expect_same_picture(dir / "out.png", case_png(c.id));
    const std::string text = params(dir / "out.png");
    EXPECT_NE(text.find("ControlNet 0: \"Module: ip-adapter_clip_sd15, Model: ip-adapter"), std::string::npos)
        << text;
    test::CmdResult again = test::run_i2i(
        {"img2img", "--from-png", (dir / "out.png").string(), "--tokenizer",
         test::fixture_path("tokenizer").string(), "--quiet", "--infotext-paths", "-o", "again.png"},
        dir);
    ASSERT_EQ(again.status, 0) << again.err;
    EXPECT_EQ(read_image(dir / "out.png").pixels, read_image(dir / "again.png").pixels);
    EXPECT_EQ(params(dir / "again.png"), text);
  }
}

TEST(IpAdapterCli, EachUnitTakesTheFlagsAfterIt) {
  const fs::path dir = test::temp_dir("ip_cli_units");
  test::CmdResult r = test::run_i2i(
      test::with(args("models/tiny-sd15.safetensors", {"--steps", "2"}),
                 {"--ip-adapter", adapter(kBase), "--ip-adapter-image", chelsea(), "--ip-adapter-mode",
                  "style", "--ip-adapter", adapter(kPlus), "--ip-adapter-scale", "0.5", "--ip-adapter-image",
                  test::fixture_path("images/coffee_64.png").string(), "--infotext-paths"}),
      dir);
  ASSERT_EQ(r.status, 0) << r.err;
  const GenerationParameters info = parse_parameters(params(dir / "out.png"));
  EXPECT_NE(info.get("ControlNet 0").value_or("").find("Model: ip-adapter_sd15, Weight: 1,"),
            std::string::npos);
  EXPECT_EQ(info.get("ControlNet 0 IP-Adapter mode"), std::optional<std::string>("style"));
  EXPECT_NE(info.get("ControlNet 1").value_or("").find("Model: ip-adapter-plus_sd15, Weight: 0.5,"),
            std::string::npos);
  EXPECT_NE(info.get("ControlNet 1 image").value_or("").find("coffee_64.png"), std::string::npos);
  EXPECT_EQ(info.get("ControlNet 1 IP-Adapter mode"), std::nullopt);
  // Without --infotext-paths (issue 17): no path of the adapters, pictures or encoder.
  const fs::path shared_dir = test::temp_dir("ip_cli_units_shared");
  r = test::run_i2i(test::with(args("models/tiny-sd15.safetensors", {"--steps", "2"}),
                               {"--ip-adapter", adapter(kBase), "--ip-adapter-image", chelsea()}),
                    shared_dir);
  ASSERT_EQ(r.status, 0) << r.err;
  const std::string shared = params(shared_dir / "out.png");
  EXPECT_EQ(shared.find('/'), std::string::npos) << shared;
  EXPECT_NE(shared.find("Model: ip-adapter_sd15"), std::string::npos) << shared;
}

// Bad input: one line on stderr, exit status non-zero, no picture written.
void expect_refused(const std::vector<std::string>& a, const std::string& part, const std::string& name) {
  SCOPED_TRACE(name);
  const fs::path dir = test::temp_dir("ip_cli_bad_" + name);
  test::CmdResult r = test::run_i2i(a, dir);
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find(part), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_FALSE(fs::exists(dir / "out.png"));
}

TEST(IpAdapterCli, BadInputIsRefused) {
  const std::string model = "models/tiny-sd15.safetensors";
  expect_refused(args(model, {"--ip-adapter", adapter("sdxl_models/ip-adapter_sdxl_vit-h.safetensors"),
                              "--ip-adapter-image", chelsea()}),
                 "ip-adapter_sdxl_vit-h.safetensors: the IP-Adapter is for a cross-attention width of 40",
                 "sdxl");
  expect_refused(
      args(model, {"--ip-adapter", adapter(kBase), "--ip-adapter-image", "/nonexistent/style.png"}),
      "/nonexistent/style.png", "image");
  expect_refused(args(model, {"--ip-adapter", adapter(kBase), "--ip-adapter-image", chelsea(),
                              "--image-encoder", "/nonexistent/encoder"}),
                 "/nonexistent/encoder", "encoder");
  expect_refused(args(model, {"--ip-adapter-image", chelsea()}), "--ip-adapter-image needs an --ip-adapter",
                 "no_unit");
  expect_refused(args(model, {"--ip-adapter", adapter(kBase), "--ip-adapter-image", chelsea(),
                              "--ip-adapter-scale", "0.5", "--ip-adapter-scale", "0.7"}),
                 "--ip-adapter-scale is given twice for IP-Adapter unit 0", "twice");
  expect_refused(args(model, {"--ip-adapter", adapter(kBase), "--ip-adapter-image", chelsea(),
                              "--ip-adapter-mode", "layout"}),
                 "--ip-adapter-mode must be all, style, composition or style+composition", "mode");
  expect_refused(args(model, {"--ip-adapter", adapter(kBase), "--ip-adapter-image", chelsea(),
                              "--ip-adapter-layers", "up_blocks.9=1"}),
                 "--ip-adapter-layers: up_blocks.9 names no attention layer", "layers");
  expect_refused(args(model, {"--ip-adapter", adapter(kBase)}), "no reference picture (--ip-adapter-image)",
                 "no_image");
}

TEST(StyleTransferCli, IsAnImg2ImgWithTheStyleUnit) {
  const fs::path dir = test::temp_dir("style_transfer");
  const std::vector<std::string> common = {
      "--model",     test::fixture_path("models/tiny-sd15.safetensors").string(),
      "--tokenizer", test::fixture_path("tokenizer").string(),
      "--seed",      "7",
      "--steps",     "4",
      "--precision", "fp32",
      "--quiet"};
  test::CmdResult r = test::run_i2i(
      test::with(
          {"style-transfer", "--content", test::fixture_path("cases/inputs/astronaut_64.png").string(),
           "--style", chelsea(), "--ip-adapter", adapter(kPlus), "--prompt", "an astronaut", "-o", "st.png"},
          common),
      dir);
  ASSERT_EQ(r.status, 0) << r.err;
  const GenerationParameters info = parse_parameters(params(dir / "st.png"));
  EXPECT_EQ(info.get("Denoising strength"), std::optional<std::string>("0.6"));
  EXPECT_EQ(info.get("CFG scale"), std::optional<std::string>("5"));
  EXPECT_EQ(info.get("ControlNet 0 IP-Adapter mode"), std::optional<std::string>("style"));
  // The same img2img by hand gives the same picture.
  test::CmdResult same = test::run_i2i(
      test::with(
          {"img2img", "--init", test::fixture_path("cases/inputs/astronaut_64.png").string(), "--ip-adapter",
           adapter(kPlus), "--ip-adapter-image", chelsea(), "--ip-adapter-mode", "style", "--prompt",
           "an astronaut", "--negative-prompt",
           "text, watermark, lowres, low quality, worst quality, deformed, glitch, low contrast, noisy, "
           "saturation, blurry",
           "--strength", "0.6", "--cfg-scale", "5", "-o", "same.png"},
          common),
      dir);
  ASSERT_EQ(same.status, 0) << same.err;
  EXPECT_EQ(read_image(dir / "st.png").pixels, read_image(dir / "same.png").pixels);

  // With a Canny ControlNet of the content.
  test::CmdResult cn = test::run_i2i(
      test::with({"style-transfer", "--content", test::fixture_path("cases/inputs/astronaut_64.png").string(),
                  "--style", chelsea(), "--ip-adapter", adapter(kBase), "--control-model",
                  test::fixture_path("models/tiny-controlnet-sd15.safetensors").string(), "-o", "cn.png"},
                 common),
      dir);
  ASSERT_EQ(cn.status, 0) << cn.err;
  const GenerationParameters cinfo = parse_parameters(params(dir / "cn.png"));
  EXPECT_NE(cinfo.get("ControlNet 0").value_or("").find("Module: canny"), std::string::npos);
  EXPECT_NE(cinfo.get("ControlNet 0").value_or("").find("Weight: 0.6"), std::string::npos);
  EXPECT_NE(cinfo.get("ControlNet 1").value_or("").find("Module: ip-adapter_clip_sd15"), std::string::npos);

  expect_refused({"style-transfer", "--content", "x.png", "--style", "y.png", "--model", "m"},
                 "--ip-adapter is required", "style_transfer_no_adapter");
}

}  // namespace
}  // namespace i2i
