// The soft-edge preprocessors (softedge_hed / softedge_hedsafe) against controlnet_aux's own HEDdetector run
// on the tiny random-weight ControlNetHED (fixtures README "Annotators, part 2"): the five projections, the
// float32 bilinear resizes, the float32 mean and float64 sigmoid, safe_step, the 8-bit maps within one level
// and the final PNGs.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>
#include <memory>
#include <set>

#include "core/error.h"
#include "io/cv_resize.h"
#include "io/image.h"
#include "models/controlnet_hed.h"
#include "preprocess/soft_edge.h"
#include "support/cli_run.h"
#include "support/fixtures.h"

namespace i2i {
namespace {

namespace fs = std::filesystem;

constexpr const char* kIndex = "annotators2.json";
constexpr const char* kModel = "models/annotators/tiny-hed.safetensors";

const nlohmann::json& cases() {
  return test::index_json(kIndex).at("groups").at("hed").at("cases");
}

const ControlNetHed& model(Precision precision = Precision::F32) {
  static std::map<Precision, std::unique_ptr<ControlNetHed>> cache;
  auto& slot = cache[precision];
  if (!slot)
    slot = std::make_unique<ControlNetHed>(load_controlnet_hed(test::fixture_path(kModel), precision));
  return *slot;
}

Tensor plane(const std::vector<float>& v, int64_t h, int64_t w) {
  return Tensor::from_vector({h, w}, v);
}

double max_diff_f64(const std::vector<double>& got, const Tensor& want) {
  EXPECT_EQ(want.dtype(), DType::F64);
  EXPECT_EQ(static_cast<int64_t>(got.size()), want.numel());
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::abs(got[i] - want.data<double>()[i]));
  return worst;
}

TEST(Hed, ModelShapesFromTheCheckpoint) {
  EXPECT_EQ(model().blocks(), 5);
}

TEST(Hed, EveryStageMatchesControlnetAux) {
  for (const auto& c : cases()) {
    const std::string id = c.at("id");
    SCOPED_TRACE(id);
    const bool safe = c.at("preprocessor") == "softedge_hedsafe";
    SoftEdgeTrace t;
    const Image map = soft_edge_map(read_image(test::fixture_path(c.at("input").get<std::string>())), model(),
                                    safe, 128, c.at("output_size_wh")[0].get<int>(), &t);
    const int64_t w = t.detect_image.width, h = t.detect_image.height;
    EXPECT_EQ(w, c.at("detect_size_wh")[0].get<int64_t>());
    EXPECT_EQ(h, c.at("detect_size_wh")[1].get<int64_t>());
    // The network input is the detect image as float32 0..255: exact.
    EXPECT_TRUE(test::all_close(nhwc_to_nchw(t.net_input),
                                test::index_output(kIndex, c, "net_input").to(DType::F32), 0, id));
    const auto& out = c.at("outputs");
    if (out.contains("projection1")) {
      ASSERT_EQ(t.projections.size(), 5u);
      for (int i = 0; i < 5; ++i) {
        const std::string name = "projection" + std::to_string(i + 1);
        EXPECT_TRUE(test::all_close(nhwc_to_nchw(t.projections[i]),
                                    test::index_output(kIndex, c, name).to(DType::F32), 1e-4, id + name));
      }
      // edges_resized [H, W, 5].
      const Tensor er = test::index_output(kIndex, c, "edges_resized").to(DType::F32);
      for (int i = 0; i < 5; ++i) {
        Tensor want = Tensor::empty({h, w});
        for (int64_t p = 0; p < h * w; ++p) want.data<float>()[p] = er.data<float>()[p * 5 + i];
        EXPECT_TRUE(
            test::all_close(plane(t.edges[i], h, w), want, 1e-4, id + " edges_resized " + std::to_string(i)));
      }
      EXPECT_TRUE(test::all_close(plane(t.mean_logit, h, w),
                                  test::index_output(kIndex, c, "mean_logit").to(DType::F32), 1e-4, id));
      EXPECT_LE(max_diff_f64(t.sigmoid, test::index_output(kIndex, c, "sigmoid_f64")), 1e-5) << id;
    }
    if (safe) {
      // safe_step values 0, 0.5, 1, 1.5: no value of these inputs is near a step boundary, so exact.
      EXPECT_TRUE(test::all_close(plane(t.safe_step, h, w),
                                  test::index_output(kIndex, c, "safe_step").to(DType::F32), 0, id));
      for (uint8_t v : t.edge.pixels) EXPECT_TRUE(v == 0 || v == 127 || v == 255) << int(v);
    }
    test::expect_same_picture(t.edge, test::index_output_map(kIndex, c, "edge_uint8"), id + " edge_uint8");
    test::expect_same_picture(
        map, to_rgb(read_image(test::fixture_path(out.at("output_png").get<std::string>()))), id + " png");
  }
}

TEST(Hed, FloatBilinearResizeOfTheReferenceProjections) {
  // cv2.resize(p, (W, H), INTER_LINEAR) in float32 from the reference projections: float32 round-off only.
  for (const auto& c : cases()) {
    if (!c.at("outputs").contains("projection2")) continue;
    const int64_t w = c.at("detect_size_wh")[0], h = c.at("detect_size_wh")[1];
    const Tensor er = test::index_output(kIndex, c, "edges_resized").to(DType::F32);
    for (int i = 1; i < 5; ++i) {
      const Tensor p = test::index_output(kIndex, c, "projection" + std::to_string(i + 1)).to(DType::F32);
      const std::vector<float> got =
          cv_resize_linear(p.to_vector(), static_cast<int>(p.dim(3)), static_cast<int>(p.dim(2)),
                           static_cast<int>(w), static_cast<int>(h));
      Tensor want = Tensor::empty({h, w});
      for (int64_t q = 0; q < h * w; ++q) want.data<float>()[q] = er.data<float>()[q * 5 + i];
      EXPECT_TRUE(test::all_close(plane(got, h, w), want, 1e-6, "edges_resized " + std::to_string(i)));
    }
  }
}

TEST(Hed, Bf16StaysCloseToFp32) {
  // bf16 operands (8 significant bits, u = 2^-9) in the convolutions: each rounding costs about 1.6e-3
  // relative and the random weights (gain sqrt(2) per layer) do not average it out; measured 6.8e-3 on
  // projection 1 (2 layers) growing to 1.8e-2 on projection 5 (13 layers, 8x8 values). Bound 4e-2; a wrong
  // kernel or layout is off by O(1).
  const auto& c = cases()[0];
  const Tensor x = nchw_to_nhwc(test::index_output(kIndex, c, "net_input").to(DType::F32));
  const std::vector<Tensor> want = model()(x), got = model(Precision::BF16)(x);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    double num = 0, den = 0;
    for (int64_t k = 0; k < want[i].numel(); ++k) {
      const double d = static_cast<double>(got[i].data<float>()[k]) - want[i].data<float>()[k];
      num += d * d;
      den += static_cast<double>(want[i].data<float>()[k]) * want[i].data<float>()[k];
    }
    const double rel = std::sqrt(num / den);
    EXPECT_LT(rel, 4e-2) << "projection " << i + 1;
  }
}

TEST(Hed, SafeMapsTakeOnlyThreeLevels) {
  const auto& c = cases()[1];
  ASSERT_EQ(c.at("preprocessor"), "softedge_hedsafe");
  const Image img = read_image(test::fixture_path(c.at("input").get<std::string>()));
  SoftEdgeTrace t;
  soft_edge_map(img, model(), true, 128, 128, &t);
  int count[3] = {0, 0, 0};
  for (uint8_t v : t.edge.pixels) count[v == 0 ? 0 : v == 127 ? 1 : 2]++;
  EXPECT_GT(count[0], 0);
  EXPECT_GT(count[1], 0);
  EXPECT_GT(count[2], 0);
  // The plain map of the same image has many more levels.
  SoftEdgeTrace plain;
  soft_edge_map(img, model(), false, 128, 128, &plain);
  std::set<uint8_t> levels(plain.edge.pixels.begin(), plain.edge.pixels.end());
  EXPECT_GT(levels.size(), 50u);
}

TEST(Hed, CheckpointErrorsNameTheFileAndTheKind) {
  std::string e = test::error_of(
      [] { load_controlnet_hed(test::fixture_path("models/annotators/tiny-lineart.safetensors")); });
  EXPECT_NE(e.find("tiny-lineart.safetensors: is a line-art (sk_model) checkpoint, not a HED soft-edge"),
            std::string::npos)
      << e;
  e = test::error_of(
      [] { load_controlnet_hed(test::fixture_path("models/annotators/tiny-openpose-body.safetensors")); });
  EXPECT_NE(e.find("is an OpenPose body checkpoint"), std::string::npos) << e;
  e = test::error_of([] { load_controlnet_hed("/nonexistent/ControlNetHED.pth"); });
  EXPECT_NE(e.find("ControlNetHED.pth: pickled checkpoints are not loaded"), std::string::npos) << e;
  // A pickle renamed to .safetensors is an invalid safetensors file (never unpickled).
  const fs::path dir = test::temp_dir("hed_errors");
  std::ofstream(dir / "pickle.safetensors", std::ios::binary)
      << std::string_view("\x80\x02}q\x00(X\x04\x00\x00\x00normq", 16);
  e = test::error_of([&] { load_controlnet_hed(dir / "pickle.safetensors"); });
  EXPECT_NE(e.find("pickle.safetensors"), std::string::npos) << e;
  EXPECT_EQ(e.find('\n'), std::string::npos) << e;
}

}  // namespace
}  // namespace i2i
