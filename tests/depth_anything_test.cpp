// Depth Anything V2 as A1111's depth_anything_v2 preprocessor runs it, stage by stage against the fixtures'
// `depth_anything_v2` group (cases/annotators.json; README "Annotators"): resize and pad, network input,
// position-embedding interpolation, intermediate layers, DPT head, depth output, resized depth, 8-bit maps.
// Each stage starts from the reference's previous stage, so a failure points at one step.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

#include "core/error.h"
#include "io/cv_resize.h"
#include "io/image.h"
#include "kernels/interpolate.h"
#include "models/depth_anything_v2_load.h"
#include "preprocess/annotator_resize.h"
#include "preprocess/depth_map.h"
#include "support/fixtures.h"
#include "tools/bench_annotators.h"

namespace i2i {
namespace {

namespace fs = std::filesystem;

const char* kIndex = "annotators.json";

fs::path fixture(const std::string& rel) {
  return test::fixtures_dir() / rel;
}

fs::path model_file() {
  return fixture("models/annotators/tiny-depth-anything-v2.safetensors");
}

const nlohmann::json& depth_case(const std::string& id) {
  return test::find_index_case(kIndex, "depth_anything_v2", id);
}

Tensor ref(const nlohmann::json& c, const std::string& output) {
  return test::index_tensors(kIndex)
      .get(c.at("outputs").at(output).at("key").get<std::string>())
      .to(DType::F32);
}

// NCHW [1, C, H, W] -> NHWC [1, H, W, C].
Tensor to_nhwc(const Tensor& x) {
  const int64_t c = x.dim(1), h = x.dim(2), w = x.dim(3);
  Tensor out = Tensor::empty({1, h, w, c});
  const float* s = x.data<float>();
  float* d = out.data<float>();
  for (int64_t ch = 0; ch < c; ++ch)
    for (int64_t i = 0; i < h * w; ++i) d[i * c + ch] = s[ch * h * w + i];
  return out;
}

const DepthAnythingV2& tiny_net() {
  static const DepthAnythingV2 net = load_depth_anything_v2(model_file());
  return net;
}

// Two 8-bit pictures of one size within one level everywhere; returns how many values differ.
int64_t expect_within_one_level(const Image& got, const Image& want, const std::string& what) {
  EXPECT_EQ(got.width, want.width) << what;
  EXPECT_EQ(got.height, want.height) << what;
  EXPECT_EQ(got.channels, want.channels) << what;
  if (got.pixels.size() != want.pixels.size()) return -1;
  int64_t differing = 0;
  int worst = 0;
  for (size_t i = 0; i < got.pixels.size(); ++i) {
    const int d = std::abs(int(got.pixels[i]) - int(want.pixels[i]));
    differing += d != 0;
    worst = std::max(worst, d);
  }
  EXPECT_LE(worst, 1) << what << ": " << differing << " values differ";
  return differing;
}

Image gray_of(const Tensor& u8_as_f32) {
  Image img(static_cast<int>(u8_as_f32.dim(1)), static_cast<int>(u8_as_f32.dim(0)), 1);
  const float* s = u8_as_f32.data<float>();
  for (size_t i = 0; i < img.pixels.size(); ++i) img.pixels[i] = static_cast<uint8_t>(s[i]);
  return img;
}

struct CaseInfo {
  const char* id;
  int resolution;
};
const CaseInfo kCases[] = {{"astronaut_64_res96", 96}, {"chelsea_384x512_res100", 100}};

TEST(DepthAnythingV2Config, SizesComeFromTheShapesAndTheSidecar) {
  const auto& c = tiny_net().config();
  EXPECT_EQ(c.embed_dim, 32);
  EXPECT_EQ(c.depth, 4);
  EXPECT_EQ(c.num_heads, 2);  // from the sidecar (32 / 64 would be none)
  EXPECT_EQ(c.mlp_hidden, 128);
  EXPECT_EQ(c.pos_grid, 37);
  EXPECT_EQ(c.intermediate_layers, (std::array<int, 4>{0, 1, 2, 3}));
  EXPECT_EQ(c.features, 16);
  EXPECT_EQ(c.out_channels, (std::array<int64_t, 4>{8, 16, 32, 32}));
  EXPECT_EQ(c.head_hidden, 32);
  EXPECT_EQ(c.variant(), "custom");
}

// The released sizes from shapes alone (only the tensors the configuration reads).
Weights released_shapes(int64_t d, int blocks, int64_t f, std::array<int64_t, 4> oc) {
  Weights w("released.safetensors");
  w.add("pretrained.cls_token", Tensor::zeros({1, 1, d}));
  w.add("pretrained.pos_embed", Tensor::zeros({1, 1370, d}));
  w.add("pretrained.patch_embed.proj.weight", Tensor::zeros({d, 3, 14, 14}));
  for (int i = 0; i < blocks; ++i)
    w.add("pretrained.blocks." + std::to_string(i) + ".norm1.weight", Tensor::zeros({d}));
  w.add("pretrained.blocks.0.mlp.fc1.weight", Tensor::zeros({4 * d, 1}));
  for (int i = 0; i < 4; ++i)
    w.add("depth_head.projects." + std::to_string(i) + ".weight",
          Tensor::zeros({oc[static_cast<size_t>(i)], d, 1, 1}));
  w.add("depth_head.scratch.layer1_rn.weight", Tensor::zeros({f, oc[0], 3, 3}));
  w.add("depth_head.scratch.output_conv2.0.weight", Tensor::zeros({32, f / 2, 3, 3}));
  return w;
}

TEST(DepthAnythingV2Config, ReleasedModelsNeedNoSidecar) {
  auto s = infer_depth_anything_v2_config(released_shapes(384, 12, 64, {48, 96, 192, 384}), nullptr);
  EXPECT_EQ(s.variant(), "vits");
  EXPECT_EQ(s.num_heads, 6);
  EXPECT_EQ(s.intermediate_layers, (std::array<int, 4>{2, 5, 8, 11}));
  auto b = infer_depth_anything_v2_config(released_shapes(768, 12, 128, {96, 192, 384, 768}), nullptr);
  EXPECT_EQ(b.variant(), "vitb");
  EXPECT_EQ(b.num_heads, 12);
  auto l = infer_depth_anything_v2_config(released_shapes(1024, 24, 256, {256, 512, 1024, 1024}), nullptr);
  EXPECT_EQ(l.variant(), "vitl");
  EXPECT_EQ(l.num_heads, 16);
  EXPECT_EQ(l.intermediate_layers, (std::array<int, 4>{4, 11, 17, 23}));
  EXPECT_EQ(l.features, 256);
  // A hostile sidecar: layers out of order or out of range, heads that do not divide the width.
  for (const char* side : {R"({"num_heads": 2, "intermediate_layer_idx": [3, 2, 1, 0]})",
                           R"({"num_heads": 2, "intermediate_layer_idx": [0, 1, 2, 9]})",
                           R"({"num_heads": 5, "intermediate_layer_idx": [0, 1, 2, 3]})",
                           R"({"num_heads": -1, "intermediate_layer_idx": [0, 1, 2, 3]})"}) {
    const nlohmann::json j = nlohmann::json::parse(side);
    const std::string m = test::error_of([&] {
      infer_depth_anything_v2_config(released_shapes(32, 4, 16, {8, 16, 32, 32}), &j);
    });
    EXPECT_NE(m.find("released.safetensors"), std::string::npos) << side << ": " << m;
  }
  // 4 blocks of width 32 without a sidecar: neither the heads nor the layers are known.
  const std::string msg = test::error_of([] {
    infer_depth_anything_v2_config(released_shapes(32, 4, 16, {8, 16, 32, 32}), nullptr);
  });
  EXPECT_NE(msg.find("released.safetensors"), std::string::npos) << msg;
}

TEST(DepthAnythingV2Config, TheBenchLayoutIsTheReleasedOne) {
  // The random-weight layout of `i2i bench` (tools/bench_annotators.h) for the tiny configuration has
  // exactly the tensors of the fixture's file, which keeps the released key names.
  const SafeTensors st = SafeTensors::open(model_file());
  const auto layout = depth_anything_v2_layout(tiny_net().config());
  EXPECT_EQ(layout.size(), st.names().size());
  for (const auto& spec : layout) {
    ASSERT_TRUE(st.contains(spec.name)) << spec.name;
    EXPECT_EQ(st.get(spec.name).shape(), spec.shape) << spec.name;
  }
  const DepthAnythingV2Config l = depth_anything_v2_vitl();
  EXPECT_EQ(l.variant(), "vitl");
  int64_t params = 0;
  for (const auto& spec : depth_anything_v2_layout(l)) params += shape_numel(spec.shape);
  EXPECT_GT(params, 330'000'000);  // 335M
  EXPECT_LT(params, 340'000'000);
}

TEST(DepthAnythingV2Stages, ResizeAndPadLikeTheExtension) {
  for (const auto& k : kCases) {
    const auto& c = depth_case(k.id);
    const Image input = read_image(fixture(c.at("input").get<std::string>()));
    const PaddedImage p = resize_image_with_pad(input, k.resolution);
    EXPECT_EQ(p.width, c.at("resized_size_wh")[0].get<int>()) << k.id;
    EXPECT_EQ(p.height, c.at("resized_size_wh")[1].get<int>()) << k.id;
    const Image want = read_image(fixture(c.at("outputs").at("padded_uint8_png").get<std::string>()));
    expect_within_one_level(p.image, to_rgb(want), k.id);
  }
}

TEST(DepthAnythingV2Stages, NetworkInputIsTheCubicResizedBgrPicture) {
  for (const auto& k : kCases) {
    const auto& c = depth_case(k.id);
    const Image padded =
        to_rgb(read_image(fixture(c.at("outputs").at("padded_uint8_png").get<std::string>())));
    const auto [w, h] = depth_anything_input_size(padded.width, padded.height);
    EXPECT_EQ(w, c.at("net_input_size_wh")[0].get<int>()) << k.id;
    EXPECT_EQ(h, c.at("net_input_size_wh")[1].get<int>()) << k.id;
    EXPECT_TRUE(test::all_close(depth_anything_input(padded), to_nhwc(ref(c, "net_input")), 1e-4,
                                std::string(k.id) + " net_input"));
  }
  // Sizes as the README lists them.
  EXPECT_EQ(depth_anything_input_size(128, 128), (std::pair<int, int>{518, 518}));
  EXPECT_EQ(depth_anything_input_size(192, 128), (std::pair<int, int>{784, 518}));
  EXPECT_EQ(depth_anything_input_size(384, 512), (std::pair<int, int>{518, 686}));
}

TEST(DepthAnythingV2Stages, PositionEmbeddingIsInterpolatedWithTheGivenScale) {
  for (const auto& k : kCases) {
    const auto& c = depth_case(k.id);
    const int64_t ph = c.at("patch_grid_hw")[0].get<int64_t>(), pw = c.at("patch_grid_hw")[1].get<int64_t>();
    EXPECT_TRUE(test::all_close(tiny_net().position_embedding(ph, pw), ref(c, "pos_embed_interpolated"), 1e-4,
                                std::string(k.id) + " pos_embed_interpolated"));
  }
}

TEST(DepthAnythingV2Stages, NetworkStagesMatch) {
  for (const auto& k : kCases) {
    const auto& c = depth_case(k.id);
    const auto& outs = c.at("outputs");
    DepthAnythingV2Trace trace;
    const Tensor depth = tiny_net().forward(to_nhwc(ref(c, "net_input")), &trace);
    if (outs.contains("patch_embed")) {
      EXPECT_TRUE(test::all_close(trace.patch_embed, ref(c, "patch_embed"), 1e-4, "patch_embed"));
    }
    const Tensor inter = ref(c, "intermediate_normed");
    ASSERT_EQ(trace.intermediate.size(), 4u);
    const int64_t per = inter.numel() / 4;
    for (int64_t i = 0; i < 4; ++i) {
      Tensor one = Tensor::empty(trace.intermediate[static_cast<size_t>(i)].shape());
      std::memcpy(one.data<float>(), inter.data<float>() + i * per, static_cast<size_t>(per) * sizeof(float));
      EXPECT_TRUE(test::all_close(trace.intermediate[static_cast<size_t>(i)], one, 1e-4,
                                  std::string(k.id) + " intermediate " + std::to_string(i)));
    }
    for (int i = 0; i < 4; ++i) {
      const std::string name = "head_layer" + std::to_string(i + 1);
      if (outs.contains(name)) {
        EXPECT_TRUE(test::all_close(trace.layers[static_cast<size_t>(i)], to_nhwc(ref(c, name)), 1e-4, name));
      }
    }
    const char* paths[3] = {"head_path4", "head_path3", "head_path2"};
    for (size_t i = 0; i < 3; ++i) {
      if (outs.contains(paths[i])) {
        EXPECT_TRUE(test::all_close(trace.paths[i], to_nhwc(ref(c, paths[i])), 1e-4, paths[i]));
      }
    }
    // Values up to 12: the README's fp32 noise is 1.2e-5 / 3.7e-5 here, and it suggests ~2e-4.
    const Tensor want = ref(c, "net_output");
    EXPECT_TRUE(test::all_close(depth, want.reshape({want.dim(1), want.dim(2)}), 2e-4,
                                std::string(k.id) + " net_output"));
  }
}

TEST(DepthAnythingV2Stages, ResizedDepthAndTheEightBitMap) {
  for (const auto& k : kCases) {
    const auto& c = depth_case(k.id);
    const Tensor out = ref(c, "net_output");
    const Tensor want = ref(c, "depth_resized");
    const Tensor got = resize_depth(out.reshape({out.dim(1), out.dim(2)}), static_cast<int>(want.dim(1)),
                                    static_cast<int>(want.dim(0)));
    EXPECT_TRUE(test::all_close(got, want, 1e-4, std::string(k.id) + " depth_resized"));
    expect_within_one_level(depth_to_gray(want), gray_of(ref(c, "depth_uint8_padded")),
                            std::string(k.id) + " depth_uint8_padded");
  }
}

TEST(DepthAnythingV2Stages, ColourMapIsOpenCvsInferno) {
  for (const auto& k : kCases) {
    const auto& c = depth_case(k.id);
    const Image gray = read_image(fixture(c.at("outputs").at("gray_png").get<std::string>()));
    const Image colored = read_image(fixture(c.at("outputs").at("colored_png").get<std::string>()));
    ASSERT_EQ(gray.channels, 1) << k.id;
    EXPECT_EQ(colorize_inferno(gray).pixels, to_rgb(colored).pixels) << k.id;
  }
}

TEST(DepthAnythingV2Map, ReproducesTheExtensionsMaps) {
  for (const auto& k : kCases) {
    const auto& c = depth_case(k.id);
    const Image input = read_image(fixture(c.at("input").get<std::string>()));
    const Image gray = depth_anything_v2_map(tiny_net(), input, k.resolution, false);
    const Image want = read_image(fixture(c.at("outputs").at("gray_png").get<std::string>()));
    const int64_t differing = expect_within_one_level(gray, want, std::string(k.id) + " gray");
    EXPECT_LE(differing, static_cast<int64_t>(want.pixels.size()) / 100) << k.id;
    // The coloured map is the grey one through the colour table (one level off = the neighbouring colour).
    const Image colored = depth_anything_v2_map(tiny_net(), input, k.resolution, true);
    EXPECT_EQ(colored.pixels, colorize_inferno(gray).pixels) << k.id;
  }
}

TEST(DepthAnythingV2Map, OfficialInferImagePath) {
  // infer_image(BGR picture, 518): the network sees RGB, and the depth is resized with align_corners=True
  // to the picture's size.
  const auto& c = test::index_json(kIndex).at("groups").at("depth_anything_v2").at("infer_image_cases").at(0);
  ASSERT_EQ(c.at("id"), "chelsea_384x512");
  const Image rgb = read_image(fixture(c.at("input").get<std::string>()));
  Image bgr = rgb;
  for (size_t i = 0; i < bgr.pixels.size(); i += 3) std::swap(bgr.pixels[i], bgr.pixels[i + 2]);
  const Tensor x = depth_anything_input(bgr);
  EXPECT_EQ(x.dim(1), 686);
  EXPECT_EQ(x.dim(2), 518);
  const Tensor d = tiny_net().forward(x);
  const Tensor got =
      ops::interpolate_bilinear(d.reshape({1, d.dim(0), d.dim(1), 1}), rgb.height, rgb.width, true);
  const Tensor want = ref(c, "depth");
  EXPECT_TRUE(test::all_close(got.reshape({rgb.height, rgb.width}), want, 2e-4, "infer_image depth"));
}

TEST(DepthAnythingV2Map, Bf16StaysCloseToFloat32) {
  // bf16 is not in the fixtures' tolerance table: the map may move by a few levels, not more.
  const DepthAnythingV2 bf16 = load_depth_anything_v2(model_file(), Precision::BF16);
  const Image input = read_image(fixture("images/astronaut_64.png"));
  const Image a = depth_anything_v2_map(tiny_net(), input, 96, false);
  const Image b = depth_anything_v2_map(bf16, input, 96, false);
  ASSERT_EQ(a.pixels.size(), b.pixels.size());
  double total = 0;
  for (size_t i = 0; i < a.pixels.size(); ++i) total += std::abs(int(a.pixels[i]) - int(b.pixels[i]));
  EXPECT_LT(total / static_cast<double>(a.pixels.size()), 2.0);
}

// ---- bad input ---------------------------------------------------------------------------------------

TEST(DepthAnythingV2Errors, OtherNetworksTruncatedAndPickledFilesAreRefused) {
  std::string msg = test::error_of(
      [] { load_depth_anything_v2(fixture("models/annotators/tiny-openpose-body.safetensors")); });
  EXPECT_NE(msg.find("tiny-openpose-body.safetensors: not a Depth Anything V2 checkpoint"), std::string::npos)
      << msg;
  EXPECT_NE(msg.find("OpenPose"), std::string::npos) << msg;

  const fs::path dir = test::temp_dir("depth_errors");
  {
    std::ifstream in(model_file(), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::ofstream(dir / "truncated.safetensors", std::ios::binary).write(bytes.data(), bytes.size() / 2);
    // A torch.save zip under a .safetensors name, and a .pth (which is never opened as a pickle).
    std::ofstream(dir / "zip.safetensors", std::ios::binary) << "PK\x03\x04 not really";
    std::ofstream(dir / "depth_anything_v2_vits.pth", std::ios::binary) << "\x80\x02}q\x00.";
  }
  msg = test::error_of([&] { load_depth_anything_v2(dir / "truncated.safetensors"); });
  EXPECT_NE(msg.find("truncated.safetensors"), std::string::npos) << msg;
  for (const char* name : {"zip.safetensors", "depth_anything_v2_vits.pth"}) {
    msg = test::error_of([&] { load_depth_anything_v2(dir / name); });
    EXPECT_NE(msg.find(name), std::string::npos) << msg;
    EXPECT_NE(msg.find("python -c"), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
  msg = test::error_of([&] { load_depth_anything_v2(dir / "missing.safetensors"); });
  EXPECT_NE(msg.find("missing.safetensors"), std::string::npos) << msg;
}

TEST(DepthAnythingV2Errors, ResolutionAndPictureSize) {
  const Image input = read_image(fixture("images/astronaut_64.png"));
  for (int r : {0, 63, 100000}) {
    const std::string msg = test::error_of([&] { resize_image_with_pad(input, r); });
    EXPECT_NE(msg.find("resolution"), std::string::npos) << msg;
    EXPECT_NE(msg.find(std::to_string(r)), std::string::npos) << msg;
  }
  const std::string msg = test::error_of([] { resize_image_with_pad(Image(1, 1, 3), 512); });
  EXPECT_NE(msg.find("1x1"), std::string::npos) << msg;
}

}  // namespace
}  // namespace i2i
