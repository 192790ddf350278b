// The line-art preprocessors (lineart_realistic / lineart_coarse) against controlnet_aux's own
// LineartDetector run on the tiny random-weight generators (fixtures README "Annotators, part 2"): the detect
// image (OpenCV Lanczos4 / area resize) exactly, every network stage within the README's tolerances, the
// 8-bit maps within one level, OpenCV's fixed-point bilinear resize exactly, and the final PNGs.
#include "preprocess/lineart.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <memory>

#include "core/error.h"
#include "io/cv_resize.h"
#include "io/image.h"
#include "models/annotator_file.h"
#include "models/lineart_generator.h"
#include "preprocess/annotator_resize.h"
#include "preprocess/aux_resize.h"
#include "support/cli_run.h"
#include "support/fixtures.h"

namespace i2i {
namespace {

namespace fs = std::filesystem;

constexpr const char* kIndex = "annotators2.json";

const nlohmann::json& cases() {
  return test::index_json(kIndex).at("groups").at("lineart").at("cases");
}

const LineartGenerator& model(const std::string& rel, Precision precision = Precision::F32) {
  static std::map<std::string, std::unique_ptr<LineartGenerator>> cache;
  auto& slot = cache[rel + (precision == Precision::BF16 ? "/bf16" : "")];
  if (!slot)
    slot = std::make_unique<LineartGenerator>(load_lineart_generator(test::fixture_path(rel), precision));
  return *slot;
}

// Channel 0 of a 3-channel image.
Image channel0(const Image& rgb) {
  Image out(rgb.width, rgb.height, 1);
  for (size_t i = 0; i < out.pixels.size(); ++i) out.pixels[i] = rgb.pixels[i * rgb.channels];
  return out;
}

int max_level_diff(const Image& a, const Image& b) {
  EXPECT_EQ(a.pixels.size(), b.pixels.size());
  int worst = 0;
  for (size_t i = 0; i < std::min(a.pixels.size(), b.pixels.size()); ++i)
    worst = std::max(worst, std::abs(int(a.pixels[i]) - int(b.pixels[i])));
  return worst;
}

TEST(Lineart, ModelShapesFromTheCheckpoint) {
  const LineartGenerator& g = model("models/annotators/tiny-lineart.safetensors");
  EXPECT_EQ(g.width(), 8);
  EXPECT_EQ(g.residual_blocks(), 3);
}

TEST(Lineart, DetectImageIsOpenCVsResize) {
  // Lanczos4 2x (astronaut 64 -> 128) and area 384x512 -> 128x192 (chelsea), bit for bit.
  for (const auto& c : cases()) {
    SCOPED_TRACE(c.at("id").get<std::string>());
    const Image input = read_image(test::fixture_path(c.at("input").get<std::string>()));
    const Image want = read_image(test::fixture_path(c.at("detect_input_png").get<std::string>()));
    const Image got = aux_resize_image(input, 128);
    ASSERT_EQ(got.width, want.width);
    ASSERT_EQ(got.height, want.height);
    EXPECT_EQ(max_level_diff(got, to_rgb(want)), 0);
  }
}

TEST(Lineart, FixedPointBilinearResizeIsOpenCVs) {
  // resized_uint8 = cv2.resize(HWC3(line_uint8), size, INTER_LINEAR): from the reference line map, exactly.
  for (const auto& c : cases()) {
    SCOPED_TRACE(c.at("id").get<std::string>());
    const auto size = c.at("output_size_wh");
    const Image got = cv_resize(hwc3(test::index_output_map(kIndex, c, "line_uint8")), size[0].get<int>(),
                                size[1].get<int>(), CvInterpolation::Linear);
    EXPECT_EQ(max_level_diff(channel0(got), test::index_output_map(kIndex, c, "resized_uint8")), 0);
  }
}

TEST(Lineart, EveryStageMatchesControlnetAux) {
  for (const auto& c : cases()) {
    const std::string id = c.at("id");
    SCOPED_TRACE(id);
    const LineartGenerator& g = model(c.at("model").get<std::string>());
    LineartTrace trace;
    const Image map = lineart_map(read_image(test::fixture_path(c.at("input").get<std::string>())), g, 128,
                                  c.at("output_size_wh")[0].get<int>(), &trace);
    // The network input is uint8 / 255 of the detect image: exact.
    EXPECT_TRUE(test::all_close(nhwc_to_nchw(trace.net_input),
                                test::index_output(kIndex, c, "net_input").to(DType::F32), 0, id));
    const auto& out = c.at("outputs");
    for (const auto& [name, got] : {std::pair{"model0", &trace.stages.model0},
                                    {"model1", &trace.stages.model1},
                                    {"model2", &trace.stages.model2},
                                    {"model3", &trace.stages.model3}})
      if (out.contains(name)) {
        EXPECT_TRUE(test::all_close(nhwc_to_nchw(*got), test::index_output(kIndex, c, name).to(DType::F32),
                                    1e-4, id + " " + name));
      }
    EXPECT_TRUE(test::all_close(nhwc_to_nchw(trace.stages.logits),
                                test::index_output(kIndex, c, "logits").to(DType::F32), 1e-4,
                                id + " logits"));
    EXPECT_TRUE(test::all_close(nhwc_to_nchw(trace.net_output),
                                test::index_output(kIndex, c, "net_output").to(DType::F32), 1e-5,
                                id + " net_output"));
    // Truncated 8-bit maps: within one level (a value next to a level boundary may land on either side).
    test::expect_same_picture(trace.line, test::index_output_map(kIndex, c, "line_uint8"),
                              id + " line_uint8");
    test::expect_same_picture(channel0(trace.resized), test::index_output_map(kIndex, c, "resized_uint8"),
                              id + " resized_uint8");
    test::expect_same_picture(
        map, to_rgb(read_image(test::fixture_path(c.at("outputs").at("output_png").get<std::string>()))),
        id + " png");
  }
}

TEST(Lineart, InversionComesAfterTheResize) {
  const auto& c = cases()[0];
  LineartTrace trace;
  const Image map = lineart_map(read_image(test::fixture_path(c.at("input").get<std::string>())),
                                model(c.at("model").get<std::string>()), 128, 192, &trace);
  ASSERT_EQ(map.pixels.size(), trace.resized.pixels.size());
  for (size_t i = 0; i < map.pixels.size(); ++i) ASSERT_EQ(map.pixels[i], 255 - trace.resized.pixels[i]);
  EXPECT_EQ(map.channels, 3);
  // Fine and coarse are different networks: their maps differ.
  const Image coarse = lineart_map(read_image(test::fixture_path(c.at("input").get<std::string>())),
                                   model("models/annotators/tiny-lineart-coarse.safetensors"), 128, 192);
  EXPECT_GT(max_level_diff(coarse, map), 10);
}

TEST(Lineart, Bf16StaysCloseToFp32) {
  // bf16 operands (8 significant bits) in every convolution of the tiny generator: the sigmoid output stays
  // within a few hundredths of float32; a wrong kernel or layout is off by O(1).
  const auto& c = cases()[0];
  const Tensor x = nchw_to_nhwc(test::index_output(kIndex, c, "net_input").to(DType::F32));
  const Tensor want = model(c.at("model").get<std::string>())(x);
  const Tensor got = model(c.at("model").get<std::string>(), Precision::BF16)(x);
  EXPECT_TRUE(test::all_close(got, want, 3e-2, "bf16 net_output"));
}

TEST(Lineart, ColourAlphaAndGreyInputsGoThroughHWC3) {
  Image rgba(2, 1, 4);
  rgba.pixels = {10, 20, 30, 255, 200, 100, 0, 0};
  const Image rgb = hwc3(rgba);
  EXPECT_EQ(rgb.pixels, (std::vector<uint8_t>{10, 20, 30, 255, 255, 255}));
  Image half(1, 1, 4);
  half.pixels = {0, 100, 200, 128};
  // color * a + 255 * (1 - a) with a = 128 / 255 in float32, truncated: 255 * (1 - a) = 126.99999 (not 127),
  // 177.19, 227.39.
  EXPECT_EQ(hwc3(half).pixels, (std::vector<uint8_t>{126, 177, 227}));
  Image grey(1, 1, 1);
  grey.pixels = {7};
  EXPECT_EQ(hwc3(grey).pixels, (std::vector<uint8_t>{7, 7, 7}));
}

TEST(Lineart, ResolutionsOutOfRangeAndTinyPicturesAreOneLineErrors) {
  const Image img = read_image(test::fixture_path("images/astronaut_64.png"));
  const LineartGenerator& g = model("models/annotators/tiny-lineart.safetensors");
  for (int bad : {0, -1, 63, 4097, 100000}) {
    const std::string e = test::error_of([&] { lineart_map(img, g, bad, 512); });
    EXPECT_NE(e.find("detect resolution must be between 64 and 4096"), std::string::npos) << e;
    EXPECT_EQ(e.find('\n'), std::string::npos) << e;
    const std::string e2 = test::error_of([&] { lineart_map(img, g, 128, bad); });
    EXPECT_NE(e2.find("image resolution must be between 64 and 4096"), std::string::npos) << e2;
    EXPECT_NE(test::error_of([&] { lineart_map_a1111(img, g, bad); }).find("processor resolution"),
              std::string::npos);
  }
  for (const Image& tiny : {Image(1, 1, 3), Image(15, 64, 3)}) {
    EXPECT_NE(test::error_of([&] { lineart_map(tiny, g, 64, 64); }).find("at least 16 pixels"),
              std::string::npos);
    EXPECT_NE(test::error_of([&] { lineart_map_a1111(tiny, g, 64); }).find("at least 16 pixels"),
              std::string::npos);
  }
  // An extreme aspect ratio whose long side would pass the image limits.
  const Image strip(16, 4000, 3);
  EXPECT_NE(test::error_of([&] { lineart_map(strip, g, 4096, 64); }).find("beyond the image limits"),
            std::string::npos);
}

TEST(Lineart, A1111PathPadsRunsAndCrops) {
  // AUTOMATIC1111's lineart: resize_image_with_pad (cubic up, edge padding to multiples of 64), 255 - line,
  // remove_pad. chelsea 384x512 at 100: 100x133 scaled, 128x192 padded, the map cropped back to 100x133.
  const Image img = read_image(test::fixture_path("cases/annotators/inputs/chelsea_384x512.png"));
  const LineartGenerator& g = model("models/annotators/tiny-lineart.safetensors");
  const Image map = lineart_map_a1111(img, g, 100);
  EXPECT_EQ(map.width, 100);
  EXPECT_EQ(map.height, 133);
  EXPECT_EQ(map.channels, 3);
  const PaddedImage padded = resize_image_with_pad(img, 100);
  const Image line = lineart_line(padded.image, g);
  for (int y = 0; y < 133; ++y)
    for (int x = 0; x < 100; ++x) ASSERT_EQ(map.at(x, y, 1), 255 - line.at(x, y, 0)) << x << "," << y;
}

// The conversion command of a pickled annotator, for a name a shell or Python would misread: through sh
// (with `python` a function printing its code) the code arrives whole, and in it the names are Python
// literals (the newline as \x0a, so the command is one line).
TEST(Lineart, ConversionCommandQuotesTheFileName) {
  const fs::path dir = test::temp_dir("lineart_pth_command");
  const std::string name = "d/it's \"x\" $HOME `id` a\\b !x\nz.pth";
  const std::string command = pth_conversion_command(name);
  EXPECT_EQ(command.find('\n'), std::string::npos) << command;
  std::ofstream(dir / "run.sh") << "python() { printf '%s' \"$2\"; }\n" << command << "\n";
  FILE* sh = popen(("sh " + (dir / "run.sh").string()).c_str(), "r");
  ASSERT_NE(sh, nullptr);
  std::string code;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, sh)) > 0;) code.append(buf, n);
  EXPECT_EQ(pclose(sh), 0);
  const std::string literal = "\"d/it's \\\"x\\\" $HOME `id` a\\\\b !x\\x0az";
  EXPECT_EQ(code,
            "import torch, safetensors.torch as s; s.save_file({k: v.contiguous() for k, v in torch.load(" +
                literal + ".pth\", map_location=\"cpu\", weights_only=True).items()}, " + literal +
                ".safetensors\")");
}

TEST(Lineart, CheckpointErrorsNameTheFileAndTheKind) {
  const fs::path dir = test::temp_dir("lineart_errors");
  // The HED checkpoint given as line art.
  std::string e = test::error_of(
      [] { load_lineart_generator(test::fixture_path("models/annotators/tiny-hed.safetensors")); });
  EXPECT_NE(e.find("tiny-hed.safetensors: is a HED soft-edge (ControlNetHED) checkpoint, not a line-art"),
            std::string::npos)
      << e;
  // A pickle is refused with the conversion command, never opened.
  e = test::error_of([] { load_lineart_generator("/nonexistent/sk_model.pth"); });
  EXPECT_NE(e.find("sk_model.pth: pickled checkpoints are not loaded"), std::string::npos) << e;
  EXPECT_NE(e.find("save_file"), std::string::npos) << e;
  EXPECT_EQ(e.find('\n'), std::string::npos) << e;
  // A truncated file.
  {
    std::ifstream in(test::fixture_path("models/annotators/tiny-lineart.safetensors"), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::ofstream(dir / "cut.safetensors", std::ios::binary).write(bytes.data(), bytes.size() / 2);
  }
  e = test::error_of([&] { load_lineart_generator(dir / "cut.safetensors"); });
  EXPECT_NE(e.find("cut.safetensors"), std::string::npos) << e;
  EXPECT_EQ(e.find('\n'), std::string::npos) << e;
  // A tensor with the wrong shape is named.
  {
    const SafeTensors st =
        SafeTensors::open(test::fixture_path("models/annotators/tiny-lineart.safetensors"));
    std::vector<std::pair<std::string, Tensor>> tensors;
    for (const auto& name : st.names()) {
      Tensor t = st.get_f32(name);
      if (name == "model1.3.weight") t = Tensor::zeros({32, 8, 3, 3});
      tensors.emplace_back(name, t);
    }
    write_safetensors(dir / "bad_shape.safetensors", tensors);
  }
  e = test::error_of([&] { load_lineart_generator(dir / "bad_shape.safetensors"); });
  EXPECT_NE(e.find("'model1.3.weight' has shape [32, 8, 3, 3], expected [32, 16, 3, 3]"), std::string::npos)
      << e;
  // Hostile files: an integer tensor, a zero width; and a fp16 copy, which is accepted (the released files
  // are fp32, converted ones may be 16-bit).
  for (const std::string change : {"int", "zero", "half"}) {
    const std::string file = change + ".safetensors";
    const SafeTensors st =
        SafeTensors::open(test::fixture_path("models/annotators/tiny-lineart.safetensors"));
    std::vector<std::pair<std::string, Tensor>> tensors;
    for (const auto& name : st.names()) {
      Tensor t = st.get_f32(name);
      if (change == "half") t = t.to(DType::F16);
      if (change == "int" && name == "model2.1.conv_block.5.bias") t = Tensor::zeros({32}, DType::I32);
      if (change == "zero" && name == "model0.1.weight") t = Tensor::zeros({0, 3, 7, 7});
      tensors.emplace_back(name, t);
    }
    write_safetensors(dir / file, tensors);
    e = test::error_of([&] { load_lineart_generator(dir / file); });
    if (change == "half") {
      EXPECT_EQ(e, "(no error)");
      continue;
    }
    EXPECT_NE(e.find(file), std::string::npos) << e;
    EXPECT_NE(e.find(change == "int" ? "'model2.1.conv_block.5.bias' is I32"
                                     : "'model0.1.weight' has shape [0, 3, 7, 7]"),
              std::string::npos)
        << e;
  }
  // The fp16 copy: float32 maps up to fp16 weight rounding.
  const auto& c = cases()[0];
  const Tensor x = nchw_to_nhwc(test::index_output(kIndex, c, "net_input").to(DType::F32));
  const Tensor half = load_lineart_generator(dir / "half.safetensors")(x);
  EXPECT_TRUE(test::all_close(half, model(c.at("model").get<std::string>())(x), 1e-2, "fp16 weights"));
}

}  // namespace
}  // namespace i2i
