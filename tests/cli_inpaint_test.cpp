// `i2i inpaint`, `--mask` / ControlNet units on `i2i img2img` and `i2i preprocess canny`, end to end on the
// tiny fixture models: the fixtures' PNGs, pixels outside the mask kept, the parameters text and --from-png,
// and one-line messages for a wrong mask size, an all-black mask and a ControlNet of another family.
#include <gtest/gtest.h>

#include <fstream>

#include "io/file_hash.h"
#include "io/image.h"
#include "io/parameters.h"
#include "io/safetensors.h"
#include "pipelines/inpaint.h"
#include "support/cli_run.h"
#include "support/fixtures.h"

namespace i2i {
namespace {
namespace fs = std::filesystem;
using test::fixture_path;
using test::run_i2i;

using test::with;

std::vector<std::string> base_args(const std::string& command, const std::string& model) {
  return with(test::fixture_args(command, model), {"--precision", "fp32"});
}

const std::string kMask = fixture_path("cases/inputs/mask_64.png").string();
const std::string kCanny = fixture_path("cases/inputs/astronaut_64_canny_100_200.png").string();
const std::string kControlNet = fixture_path("models/tiny-controlnet-sd15.safetensors").string();

std::string parameters_of(const fs::path& png) {
  return read_png_text(png).at("parameters");
}

// ---- the fixtures' pictures
// ---------------------------------------------------------------------------------

TEST(CliInpaint, NineChannelModelReproducesDiffusers) {
  // diffusers neither blurs the mask nor composites: --mask-blur 0 --no-composite.
  auto dir = test::temp_dir("cli_inpaint_9ch");
  auto r = run_i2i(with(base_args("inpaint", "models/tiny-sd15-inpaint.fp16.safetensors"),
                        {"--mask", kMask, "--mask-blur", "0", "--no-composite", "--sampler", "DDIM",
                         "--strength", "1", "-o", "out.png"}),
                   dir);
  ASSERT_EQ(r.status, 0) << r.err;
  test::expect_same_picture(dir / "out.png", fixture_path("cases/pipelines/sd15_inpaint9ch_DDIM_s1.0.png"));
}

TEST(CliInpaint, MaskOnImg2ImgReproducesTheLegacyPath) {
  auto dir = test::temp_dir("cli_inpaint_legacy");
  auto r = run_i2i(with(base_args("img2img", "models/tiny-sd15.safetensors"),
                        {"--mask", kMask, "--mask-blur", "0", "--no-composite", "--sampler", "Euler a",
                         "--strength", "0.75", "-o", "out.png"}),
                   dir);
  ASSERT_EQ(r.status, 0) << r.err;
  test::expect_same_picture(dir / "out.png",
                            fixture_path("cases/pipelines/sd15_inpaint4ch_legacy_Euler_a_s0.75.png"));
}

TEST(CliControlNet, ReproducesDiffusersAndRecordsTheUnit) {
  auto dir = test::temp_dir("cli_controlnet");
  auto args = with(base_args("img2img", "models/tiny-sd15.safetensors"),
                   {"--sampler", "DDIM", "--strength", "0.6", "--control", kCanny, "--control-model",
                    kControlNet, "--control-weight", "0.8", "-o", "out.png"});
  auto r = run_i2i(args, dir);
  ASSERT_EQ(r.status, 0) << r.err;
  test::expect_same_picture(dir / "out.png",
                            fixture_path("cases/pipelines/sd15_controlnet_img2img_DDIM_s0.6.png"));
  const std::string text = parameters_of(dir / "out.png");
  EXPECT_NE(
      text.find("ControlNet 0: \"Module: none, Model: tiny-controlnet-sd15 [" +
                legacy_model_hash(kControlNet) +
                "], Weight: 0.8, Resize Mode: Just Resize, Low Vram: False, Guidance Start: 0, Guidance "
                "End: 1, Pixel Perfect: False, Control Mode: Balanced\""),
      std::string::npos)
      << text;
  EXPECT_EQ(text.find("ControlNet 0 model path: "), std::string::npos) << text;

  // The same from the photo through the built-in Canny (cv2.Canny(gray, 100, 200), as the fixture's map).
  r = run_i2i(with(base_args("img2img", "models/tiny-sd15.safetensors"),
                   {"--sampler", "DDIM", "--strength", "0.6", "--control",
                    fixture_path("cases/inputs/astronaut_64.png").string(), "--control-preprocess", "canny",
                    "--control-model", fixture_path("models/tiny-controlnet-sd15").string(),
                    "--control-weight", "0.8", "-o", "canny.png"}),
              dir);
  ASSERT_EQ(r.status, 0) << r.err;
  test::expect_same_picture(dir / "canny.png",
                            fixture_path("cases/pipelines/sd15_controlnet_img2img_DDIM_s0.6.png"));
  EXPECT_NE(parameters_of(dir / "canny.png").find("Module: canny"), std::string::npos);
  EXPECT_NE(parameters_of(dir / "canny.png").find("Threshold A: 100, Threshold B: 200"), std::string::npos);

  // --from-png re-runs it (ControlNet unit included) to the same picture.
  // (given the models' folder, the init image and the control image: the text records no paths).
  r = run_i2i({"img2img", "--from-png", "canny.png", "--model", fixture_path("models").string(), "--init",
               fixture_path("cases/inputs/astronaut_64.png").string(), "--control",
               fixture_path("cases/inputs/astronaut_64.png").string(), "--tokenizer",
               fixture_path("tokenizer").string(), "--quiet", "--precision", "fp32", "-o", "again.png"},
              dir);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(read_image(dir / "again.png").pixels, read_image(dir / "canny.png").pixels);
}

TEST(CliPreprocess, CannyWritesTheFixturesEdgeMap) {
  auto dir = test::temp_dir("cli_preprocess");
  auto r = run_i2i({"preprocess", "canny", fixture_path("cases/inputs/astronaut_64.png").string(), "--low",
                    "100", "--high", "200", "-o", "edges.png"},
                   dir);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(read_image(dir / "edges.png").pixels, read_image(kCanny).pixels);
  // Run again: the first map stays, the second gets a new name.
  r = run_i2i({"preprocess", "canny", fixture_path("images/astronaut_64.png").string(), "--low", "50",
               "--high", "150", "-o", "edges.png"},
              dir);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(read_image(dir / "edges.png").pixels, read_image(kCanny).pixels);
  EXPECT_TRUE(fs::exists(dir / "edges-1.png"));
  r = run_i2i({"preprocess", "sobel", "x.png"}, dir);
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("unknown preprocessor 'sobel'"), std::string::npos) << r.err;
}

// ---- A1111 inpainting: composite, only masked, parameters ------------------------------------------------

// Where the overlay mask A1111 would use is 0, the output equals the source exactly.
void expect_outside_mask_kept(const fs::path& out_png, const Image& source, const Image& mask,
                              const MaskOptions& o, int work) {
  InpaintSetup s = prepare_inpaint(source, read_mask(mask), work, work, o);
  Image out = read_image(out_png);
  ASSERT_EQ(out.width, source.width);
  size_t outside = 0;
  for (size_t i = 0; i < s.overlay_mask.pixels.size(); ++i) {
    if (s.overlay_mask.pixels[i] != 0) continue;
    ++outside;
    for (int c = 0; c < 3; ++c) ASSERT_EQ(out.pixels[i * 3 + c], source.pixels[i * 3 + c]) << "pixel " << i;
  }
  EXPECT_GT(outside, s.overlay_mask.pixels.size() / 10);
}

TEST(CliInpaint, KeepsPixelsOutsideTheMaskAndRecordsTheSettings) {
  auto dir = test::temp_dir("cli_inpaint_composite");
  const Image source = to_rgb(read_image(fixture_path("cases/inputs/astronaut_64.png")));
  auto r = run_i2i(
      with(base_args("inpaint", "models/tiny-sd15.safetensors"),
           {"--mask", kMask, "--masked-content", "latent nothing", "--strength", "0.75", "-o", "out.png"}),
      dir);
  ASSERT_EQ(r.status, 0) << r.err;
  MaskOptions o;
  o.content = MaskedContent::LatentNothing;
  expect_outside_mask_kept(dir / "out.png", source, read_image(kMask), o, 64);
  const std::string text = parameters_of(dir / "out.png");
  for (const char* want : {"Mask blur: 4", "Masked content: latent nothing"})
    EXPECT_NE(text.find(want), std::string::npos) << want << " in " << text;
  EXPECT_EQ(text.find("Mask image"), std::string::npos) << text;
  EXPECT_EQ(text.find("Inpaint area"), std::string::npos) << text;

  // Only masked on the 512x512 photo, worked at 64x64 with 32 pixels of padding; --from-png re-runs it.
  const std::string photo = fixture_path("images/astronaut_512.png").string();
  Image small(512, 512, 1);
  for (int y = 300; y < 340; ++y)
    for (int x = 200; x < 260; ++x) small.at(x, y, 0) = 255;
  write_png(dir / "mask512.png", small);
  r = run_i2i(with(base_args("inpaint", "models/tiny-sd15.safetensors"),
                   {"--init", photo, "--mask", "mask512.png", "--only-masked", "--padding", "32", "--width",
                    "64", "--height", "64", "--strength", "0.75", "-o", "only.png"}),
              dir);
  ASSERT_EQ(r.status, 0) << r.err;
  MaskOptions om;
  om.only_masked = true;
  expect_outside_mask_kept(dir / "only.png", to_rgb(read_image(photo)), small, om, 64);
  const std::string only_text = parameters_of(dir / "only.png");
  for (const char* want :
       {"Inpaint area: Only masked", "Masked area padding: 32", "Masked content: original", "Size: 64x64"})
    EXPECT_NE(only_text.find(want), std::string::npos) << want << " in " << only_text;
  r = run_i2i({"inpaint", "--from-png", "only.png", "--model", fixture_path("models").string(), "--init",
               photo, "--mask", "mask512.png", "--tokenizer", fixture_path("tokenizer").string(), "--quiet",
               "--precision", "fp32", "-o", "again.png"},
              dir);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(read_image(dir / "again.png").pixels, read_image(dir / "only.png").pixels);
}

// ---- messages
// ----------------------------------------------------------------------------------------------

TEST(CliInpaintErrors, WrongMaskSizeIsResizedWithANotice) {
  auto dir = test::temp_dir("cli_inpaint_mask_size");
  write_png(dir / "big.png", resize(read_image(kMask), 128, 96));
  auto r = run_i2i(with(base_args("inpaint", "models/tiny-sd15.safetensors"),
                        {"--mask", "big.png", "--strength", "0.5", "--steps", "4", "-o", "out.png"}),
                   dir);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(
      r.err.find("notice: the mask big.png is 128x96, the image 64x64: the mask is resized to the image"),
      std::string::npos)
      << r.err;
  EXPECT_TRUE(fs::exists(dir / "out.png"));
}

TEST(CliInpaintErrors, AllBlackMaskHasNothingToDo) {
  auto dir = test::temp_dir("cli_inpaint_black");
  write_png(dir / "black.png", Image(64, 64, 1));
  auto r = run_i2i(
      with(base_args("inpaint", "models/tiny-sd15.safetensors"), {"--mask", "black.png", "-o", "out.png"}),
      dir);
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("is all black: nothing to do; the source is written unchanged"), std::string::npos)
      << r.err;
  EXPECT_EQ(read_image(dir / "out.png").pixels,
            to_rgb(read_image(fixture_path("cases/inputs/astronaut_64.png"))).pixels);
  // A white mask inverted is all black too.
  Image white(64, 64, 1);
  std::fill(white.pixels.begin(), white.pixels.end(), 255);
  write_png(dir / "white.png", white);
  r = run_i2i(with(base_args("inpaint", "models/tiny-sd15.safetensors"),
                   {"--mask", "white.png", "--invert-mask", "-o", "inv.png"}),
              dir);
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("(after --invert-mask): nothing to do"), std::string::npos) << r.err;
}

TEST(CliInpaintErrors, OneLineMessagesForBadInput) {
  auto dir = test::temp_dir("cli_inpaint_errors");
  struct Case {
    std::vector<std::string> extra;
    std::string command, message;
  };
  const std::vector<Case> cases = {
      {{}, "inpaint", "--mask is required"},
      {{"--mask", kMask, "--masked-content", "blur"}, "inpaint", "unknown masked content 'blur'"},
      {{"--mask", kMask, "--mask-blur", "-1"}, "inpaint", "--mask-blur must be between 0 and 256"},
      {{"--control", kCanny}, "img2img", "ControlNet 0: no model"},
      {{"--control", kCanny, "--control-model", kControlNet, "--control-weight", "1", "--control-weight",
        "2"},
       "img2img",
       "--control-weight is given 2 times for 1 --control image(s)"},
      {{"--control-weight", "0.5"}, "img2img", "--control-weight needs a --control image"},
      {{"--control", kCanny, "--control-model", kControlNet, "--control-start", "0.8", "--control-end",
        "0.2"},
       "img2img",
       "--control-start is after --control-end"},
      {{"--control", kCanny, "--control-model", kControlNet, "--control-preprocess", "depth"},
       "img2img",
       "unknown preprocessor 'depth'"},
      {{"--control", kCanny, "--control-model", fixture_path("models/tiny-sd15.safetensors").string()},
       "img2img",
       "not a ControlNet"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.message);
    auto r = run_i2i(with(base_args(c.command, "models/tiny-sd15.safetensors"), c.extra), dir);
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.err.find(c.message), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << r.err;
  }
}

TEST(CliControlNetErrors, AnotherFamilyIsRefused) {
  // A ControlNet made for 24-wide prompt embeddings (as an SD 2.x ControlNet next to an SD 1.x checkpoint):
  // the tiny ControlNet with its cross-attention key / value projections widened.
  auto dir = test::temp_dir("cli_controlnet_family");
  const fs::path src = fixture_path("models/tiny-controlnet-sd15");
  fs::create_directories(dir / "cn24");
  nlohmann::json config;
  std::ifstream(src / "config.json") >> config;
  config["cross_attention_dim"] = 24;
  std::ofstream(dir / "cn24" / "config.json") << config.dump(2);
  SafeTensors st = SafeTensors::open(src / "diffusion_pytorch_model.safetensors");
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (const auto& name : st.names()) {
    Tensor t = st.get_f32(name).clone();
    const bool kv = name.find("attn2.to_k.weight") != std::string::npos ||
                    name.find("attn2.to_v.weight") != std::string::npos;
    tensors.emplace_back(name, kv ? Tensor::zeros({t.dim(0), 24}) : t);
  }
  write_safetensors(dir / "cn24" / "diffusion_pytorch_model.safetensors", tensors);
  auto r = run_i2i(with(base_args("img2img", "models/tiny-sd15.safetensors"),
                        {"--control", kCanny, "--control-model", (dir / "cn24").string(), "-o", "out.png"}),
                   dir);
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("ControlNet cn24 (cross-attention width 24"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("does not match the checkpoint tiny-sd15.safetensors (cross-attention width 16"),
            std::string::npos)
      << r.err;
  EXPECT_FALSE(fs::exists(dir / "out.png"));
}

}  // namespace
}  // namespace i2i
