// The OpenPose body preprocessor against the fixtures' annotators group "openpose" (controlnet_aux's
// OpenposeDetector run unmodified on a tiny random-weight body_pose_model): every stage, from the detect
// image to the drawn pose map, plus hostile checkpoints and settings.
#include "preprocess/openpose.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "io/image.h"
#include "kernels/precision.h"
#include "models/openpose_body_load.h"
#include "preprocess/annotator_resize.h"
#include "preprocess/openpose_draw.h"
#include "preprocess/openpose_peaks.h"
#include "support/fixtures.h"

namespace i2i {
namespace {

const char* kIndex = "annotators.json";

const nlohmann::json& pose_case(const std::string& id) {
  return test::find_index_case(kIndex, "openpose", id);
}

Tensor fixture_tensor(const nlohmann::json& ref) {
  return test::index_tensors(kIndex).get(ref.at("key").get<std::string>());
}

std::filesystem::path model_file() {
  return test::models_dir() / "annotators" / "tiny-openpose-body.safetensors";
}

const OpenposeBody& tiny_body(Precision p = Precision::F32) {
  static const OpenposeBody f32 = load_openpose_body(model_file(), Precision::F32);
  static const OpenposeBody bf16 = load_openpose_body(model_file(), Precision::BF16);
  return p == Precision::F32 ? f32 : bf16;
}

Image case_input(const nlohmann::json& c) {
  return read_image(test::fixtures_dir() / c.at("input").get<std::string>());
}

// Equal images, else how many channel values differ and the first difference.
::testing::AssertionResult same_image(const Image& got, const Image& want) {
  if (got.width != want.width || got.height != want.height || got.channels != want.channels)
    return ::testing::AssertionFailure()
           << "size " << got.width << "x" << got.height << "x" << got.channels << ", expected " << want.width
           << "x" << want.height << "x" << want.channels;
  size_t bad = 0, first = 0;
  for (size_t i = 0; i < got.pixels.size(); ++i)
    if (got.pixels[i] != want.pixels[i] && bad++ == 0) first = i;
  if (bad == 0) return ::testing::AssertionSuccess();
  const size_t px = first / got.channels;
  return ::testing::AssertionFailure()
         << bad << " values differ; first at x=" << px % got.width << " y=" << px / got.width << " channel "
         << first % got.channels << ": " << int(got.pixels[first]) << " vs " << int(want.pixels[first]);
}

// Planes (one per channel) as an HWC float32 tensor, as the fixtures store heatmap_avg / paf_avg.
Tensor planes_hwc(const std::vector<PlaneF32>& planes) {
  const int64_t c = static_cast<int64_t>(planes.size()), h = planes[0].height, w = planes[0].width;
  Tensor t = Tensor::empty({h, w, c});
  for (int64_t k = 0; k < c; ++k)
    for (int64_t i = 0; i < h * w; ++i) t.data<float>()[i * c + k] = planes[k].values[i];
  return t;
}

std::vector<PlaneF32> hwc_planes(const Tensor& t) {
  const int64_t h = t.dim(0), w = t.dim(1), c = t.dim(2);
  std::vector<PlaneF32> out;
  for (int64_t k = 0; k < c; ++k) {
    PlaneF32 p{static_cast<int>(w), static_cast<int>(h), std::vector<float>(static_cast<size_t>(h * w))};
    for (int64_t i = 0; i < h * w; ++i) p.values[i] = t.data<float>()[i * c + k];
    out.push_back(std::move(p));
  }
  return out;
}

OpenposeBody::Output fixture_net_output(const nlohmann::json& c) {
  const auto& o = c.at("outputs");
  return {nchw_to_nhwc(fixture_tensor(o.at("paf"))), nchw_to_nhwc(fixture_tensor(o.at("heatmap")))};
}

// The candidate table of body.py: (x, y, score, id) per candidate, parts in order.
std::vector<std::array<double, 4>> candidate_rows(const std::vector<std::vector<PoseCandidate>>& peaks) {
  std::vector<std::array<double, 4>> rows;
  for (const auto& part : peaks)
    for (const PoseCandidate& p : part)
      rows.push_back(
          {static_cast<double>(p.x), static_cast<double>(p.y), p.score, static_cast<double>(p.id)});
  return rows;
}

void expect_candidates(const std::vector<std::vector<PoseCandidate>>& peaks, const nlohmann::json& c,
                       double score_tol) {
  const auto& o = c.at("outputs");
  std::vector<int> per_part;
  for (const auto& part : peaks) per_part.push_back(static_cast<int>(part.size()));
  EXPECT_EQ(per_part, o.at("peaks_per_part").get<std::vector<int>>());
  const Tensor want = fixture_tensor(o.at("candidate_f64"));
  const auto rows = candidate_rows(peaks);
  ASSERT_EQ(static_cast<int64_t>(rows.size()), want.dim(0));
  const double* w = want.data<double>();
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(rows[i][0], w[i * 4 + 0]) << "candidate " << i << " x";
    EXPECT_EQ(rows[i][1], w[i * 4 + 1]) << "candidate " << i << " y";
    EXPECT_NEAR(rows[i][2], w[i * 4 + 2], score_tol) << "candidate " << i << " score";
    EXPECT_EQ(rows[i][3], w[i * 4 + 3]) << "candidate " << i << " id";
  }
}

void expect_people(const std::vector<PoseSubsetRow>& people, const nlohmann::json& c, double score_tol) {
  const Tensor want = fixture_tensor(c.at("outputs").at("subset_f64"));
  ASSERT_EQ(static_cast<int64_t>(people.size()), want.dim(0));
  const double* w = want.data<double>();
  for (size_t r = 0; r < people.size(); ++r) {
    for (int k = 0; k < 18; ++k) EXPECT_EQ(people[r][k], w[r * 20 + k]) << "person " << r << " part " << k;
    EXPECT_NEAR(people[r][18], w[r * 20 + 18], score_tol) << "person " << r << " score";
    EXPECT_EQ(people[r][19], w[r * 20 + 19]) << "person " << r << " parts";
  }
}

void expect_keypoints(const std::vector<BodyKeypoints>& got, const nlohmann::json& c) {
  const auto& want = c.at("outputs").at("keypoints_normalized_xy");
  ASSERT_EQ(got.size(), want.size());
  for (size_t p = 0; p < got.size(); ++p)
    for (int k = 0; k < 18; ++k) {
      const auto& w = want[p][k];
      ASSERT_EQ(got[p][k].has_value(), !w.is_null()) << "person " << p << " part " << k;
      if (!w.is_null()) {
        EXPECT_EQ(got[p][k]->x, w[0].get<double>()) << "person " << p << " part " << k;
        EXPECT_EQ(got[p][k]->y, w[1].get<double>()) << "person " << p << " part " << k;
      }
    }
}

std::vector<BodyKeypoints> fixture_keypoints(const nlohmann::json& c) {
  std::vector<BodyKeypoints> out;
  for (const auto& person : c.at("outputs").at("keypoints_normalized_xy")) {
    BodyKeypoints k;
    for (int p = 0; p < 18; ++p)
      if (!person[p].is_null()) k[p] = PoseKeypoint{person[p][0].get<double>(), person[p][1].get<double>()};
    out.push_back(k);
  }
  return out;
}

Image pose_png(const nlohmann::json& c) {
  return read_image(test::case_png(c.at("outputs").at("pose_png").get<std::string>()));
}

OpenposeMapSize output_size(const nlohmann::json& c, int image_resolution) {
  const auto& d = c.at("detect_size_wh");
  return openpose_resize_size(d[0].get<int>(), d[1].get<int>(), image_resolution, "image_resolution");
}

int image_resolution_of(const std::string& id) {
  return id == "astronaut_64_det128_img192" ? 192 : 128;
}

class OpenposeCase : public ::testing::TestWithParam<const char*> {};

TEST_P(OpenposeCase, DetectImageIsTheFixturePng) {
  const auto& c = pose_case(GetParam());
  const Image detect = openpose_detect_image(case_input(c), 128);
  EXPECT_EQ(detect.width, c.at("detect_size_wh")[0].get<int>());
  EXPECT_EQ(detect.height, c.at("detect_size_wh")[1].get<int>());
  EXPECT_TRUE(
      same_image(detect, read_image(test::fixtures_dir() / c.at("detect_input_png").get<std::string>())));
}

TEST_P(OpenposeCase, NetInputMatchesExactly) {
  const auto& c = pose_case(GetParam());
  const Image detect = read_image(test::fixtures_dir() / c.at("detect_input_png").get<std::string>());
  const OpenposeNetInput in = openpose_net_input(detect);
  EXPECT_DOUBLE_EQ(in.scale, c.at("scale").get<double>());
  const auto& pad = c.at("pad_up_left_down_right");
  EXPECT_EQ(in.pad_down, pad[2].get<int>());
  EXPECT_EQ(in.pad_right, pad[3].get<int>());
  EXPECT_TRUE(test::all_close(nhwc_to_nchw(in.image), fixture_tensor(c.at("outputs").at("net_input")), 0.0,
                              "net_input"));
}

TEST_P(OpenposeCase, NetworkMatchesPafsAndHeatmaps) {
  const auto& c = pose_case(GetParam());
  const auto& o = c.at("outputs");
  const OpenposeBody::Output out = tiny_body()(nchw_to_nhwc(fixture_tensor(o.at("net_input"))));
  EXPECT_TRUE(test::all_close(nhwc_to_nchw(out.paf), fixture_tensor(o.at("paf")), 1e-4, "paf"));
  EXPECT_TRUE(test::all_close(nhwc_to_nchw(out.heatmap), fixture_tensor(o.at("heatmap")), 1e-4, "heatmap"));
}

TEST_P(OpenposeCase, Bf16NetworkStaysClose) {
  const auto& c = pose_case(GetParam());
  const auto& o = c.at("outputs");
  const OpenposeBody::Output out =
      tiny_body(Precision::BF16)(nchw_to_nhwc(fixture_tensor(o.at("net_input"))));
  // bf16 operands (8-bit mantissa) through 30 layers: within 1e-2 (6e-4 seen) of maps up to ~1.5.
  EXPECT_TRUE(test::all_close(nhwc_to_nchw(out.paf), fixture_tensor(o.at("paf")), 1e-2, "bf16 paf"));
  EXPECT_TRUE(
      test::all_close(nhwc_to_nchw(out.heatmap), fixture_tensor(o.at("heatmap")), 1e-2, "bf16 heatmap"));
  // The bf16 network really rounds its operands (natively or emulated).
  const double d = test::max_abs_diff(nhwc_to_nchw(out.paf), fixture_tensor(o.at("paf"))).max_abs;
  std::printf("bf16 paf max abs diff %.3g (cpu_has_bf16: %d)\n", d, cpu_has_bf16() ? 1 : 0);
  EXPECT_GT(d, 1e-5);
}

TEST_P(OpenposeCase, PeaksAndPeopleFromTheFixtureNetworkOutput) {
  // The recorded network outputs through the resizes, peaks, limbs and people: float64 post-processing on
  // the same float32 maps, so everything matches exactly.
  const auto& c = pose_case(GetParam());
  const int w = c.at("detect_size_wh")[0].get<int>(), h = c.at("detect_size_wh")[1].get<int>();
  const Image detect = read_image(test::fixtures_dir() / c.at("detect_input_png").get<std::string>());
  const OpenposeMaps maps = openpose_detect_maps(fixture_net_output(c), openpose_net_input(detect), w, h);
  const auto& o = c.at("outputs");
  if (o.contains("heatmap_avg")) {
    EXPECT_TRUE(
        test::all_close(planes_hwc(maps.heatmaps), fixture_tensor(o.at("heatmap_avg")), 1e-6, "heatmap_avg"));
    EXPECT_TRUE(test::all_close(planes_hwc(maps.pafs), fixture_tensor(o.at("paf_avg")), 1e-6, "paf_avg"));
  }
  const OpenposeDetection d = openpose_detect(maps, w, h);
  expect_candidates(d.peaks, c, 1e-6);
  expect_people(d.people, c, 1e-5);
  EXPECT_EQ(static_cast<int>(d.people.size()), o.at("people").get<int>());
  expect_keypoints(d.keypoints, c);
}

TEST_P(OpenposeCase, DrawnPoseIsTheFixturePng) {
  const auto& c = pose_case(GetParam());
  const int w = c.at("detect_size_wh")[0].get<int>(), h = c.at("detect_size_wh")[1].get<int>();
  const OpenposeMapSize out = output_size(c, image_resolution_of(GetParam()));
  const Image pose =
      cv_resize(openpose_draw(fixture_keypoints(c), w, h), out.width, out.height, CvInterpolation::Linear);
  EXPECT_TRUE(same_image(pose, pose_png(c)));
}

TEST_P(OpenposeCase, EndToEndIsTheFixturePng) {
  const auto& c = pose_case(GetParam());
  const Image pose = openpose_preprocess(case_input(c), tiny_body(), 128, image_resolution_of(GetParam()));
  EXPECT_TRUE(same_image(pose, pose_png(c)));
}

TEST(OpenposeStages, A1111PathOnAPictureAtItsResolutionIsTheFixtureMap) {
  // A1111's module resizes and pads to Processor Res, then detects at that size. The chelsea detect image
  // (128x192) at resolution 128 needs neither (an area resize to the same size is a copy, both sides are
  // multiples of 64), so the map is controlnet_aux's at detect = image resolution 128: the fixture's.
  const auto& c = pose_case("chelsea_384x512_det128_img128");
  const Image detect = read_image(test::fixtures_dir() / c.at("detect_input_png").get<std::string>());
  EXPECT_TRUE(same_image(openpose_a1111(detect, tiny_body(), 128), pose_png(c)));
  // Elsewhere the two differ: A1111's cubic resize to 128x171 padded to 128x192, versus controlnet_aux's
  // Lanczos to 128x192.
  const Image source = case_input(c);
  const Image a1111 = openpose_a1111(source, tiny_body(), 128);
  EXPECT_EQ(a1111.width, 128);
  EXPECT_EQ(a1111.height, 171);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, OpenposeCase,
                         ::testing::Values("astronaut_64_det128_img192", "chelsea_384x512_det128_img128"));

TEST(OpenposeStages, HeatmapAvgStageGivesTheFixtureCandidates) {
  // Peaks and people from the recorded heatmap_avg / paf_avg alone (no resizing involved).
  const auto& c = pose_case("astronaut_64_det128_img192");
  const auto& o = c.at("outputs");
  const auto heat = hwc_planes(fixture_tensor(o.at("heatmap_avg")));
  const auto paf = hwc_planes(fixture_tensor(o.at("paf_avg")));
  const auto peaks = find_pose_peaks(heat);
  expect_candidates(peaks, c, 0.0);
  const auto people = assemble_people(peaks, paf, 128);
  expect_people(people, c, 0.0);
  const Tensor subset = fixture_tensor(o.at("subset_f64"));
  const auto& total = o.at("total_score");
  for (size_t r = 0; r < people.size(); ++r) EXPECT_EQ(people[r][18], total[r].get<double>());
  expect_keypoints(normalized_keypoints(peaks, people, 128, 128), c);
}

TEST(OpenposeStages, ModelConfigComesFromTheShapes) {
  const OpenposeBodyConfig& cfg = tiny_body().config();
  EXPECT_EQ(cfg.vgg1, 8);
  EXPECT_EQ(cfg.vgg2, 16);
  EXPECT_EQ(cfg.vgg3, 16);
  EXPECT_EQ(cfg.vgg4, 32);
  EXPECT_EQ(cfg.cpm3, 16);
  EXPECT_EQ(cfg.cpm, 16);
  EXPECT_EQ(cfg.stage1_hidden, 16);
  EXPECT_EQ(cfg.stage1_wide, 32);
  EXPECT_EQ(cfg.stage_hidden, 16);
  int64_t params = 0;
  const SafeTensors st = SafeTensors::open(model_file());
  for (const std::string& n : st.names()) params += shape_numel(st.info(n).shape);
  EXPECT_EQ(cfg.parameter_count(), params);
  // The layout lists exactly the file's tensors.
  const auto layout = openpose_body_layout(cfg);
  EXPECT_EQ(layout.size(), st.names().size());
  for (const auto& [name, shape] : layout) {
    ASSERT_TRUE(st.contains(name)) << name;
    EXPECT_EQ(st.info(name).shape, shape) << name;
  }
  // The real model: 52.3M parameters (body_pose_model.pth).
  EXPECT_EQ(OpenposeBodyConfig{}.parameter_count(), 52311446);
}

TEST(OpenposeStages, GaussianFilterIsScipys) {
  // A unit impulse gives the normalised kernel itself (radius 12 for sigma 3), and reflect borders fold it.
  std::vector<double> v(40 * 30, 0.0);
  v[15 * 40 + 20] = 1.0;
  const auto b = gaussian_filter_scipy(v, 40, 30, 3.0);
  double sum = 0;
  for (double x : b) sum += x;
  EXPECT_NEAR(sum, 1.0, 1e-12);
  const double g0 = 1.0 / (1 + 2 * [] {
                      double s = 0;
                      for (int i = 1; i <= 12; ++i) s += std::exp(-i * i / 18.0);
                      return s;
                    }());
  EXPECT_NEAR(b[15 * 40 + 20], g0 * g0, 1e-15);
  EXPECT_NEAR(b[15 * 40 + 21], g0 * g0 * std::exp(-1 / 18.0), 1e-15);
  // At a corner the reflected copy of the impulse sits at -1: the output there is (w0 + w1)^2.
  std::vector<double> e(30 * 30, 0.0);
  e[0] = 1.0;
  const auto be = gaussian_filter_scipy(e, 30, 30, 3.0);
  const double w01 = g0 * (1 + std::exp(-1 / 18.0));
  EXPECT_NEAR(be[0], w01 * w01, 1e-15);
}

TEST(OpenposeStages, Hwc3CompositesAlphaOverWhite) {
  // HWC3 (annotator_resize.h, as controlnet_aux's): float32 color * a + 255 * (1 - a), a = alpha / 255,
  // truncated (black at alpha 128 gives 126.99999 -> 126); grey replicated.
  Image rgba(1, 1, 4);
  rgba.pixels = {200, 10, 0, 128};
  EXPECT_EQ(hwc3(rgba).pixels, (std::vector<uint8_t>{227, 132, 126}));
  Image grey(1, 1, 1);
  grey.pixels = {77};
  EXPECT_EQ(hwc3(grey).pixels, (std::vector<uint8_t>{77, 77, 77}));
}

TEST(OpenposeDraw, EllipseAndCircleRasterise) {
  // cv2.ellipse2Poly((10, 10), (5, 4), 0, 0, 360, 1) starts at (15, 10), comes back to it, and has no
  // repeats.
  const auto pts = cv_ellipse2poly({10, 10}, 5, 4, 0, 0, 360, 1);
  ASSERT_GE(pts.size(), 3u);
  EXPECT_EQ(pts.front(), (CvPoint{15, 10}));
  EXPECT_EQ(pts.back(), (CvPoint{15, 10}));
  for (size_t i = 1; i < pts.size(); ++i) EXPECT_FALSE(pts[i] == pts[i - 1]);
  // OpenCV's filled radius-4 circle: rows of 1, 5, 7, 7, 9, 7, 7, 5, 1 pixels.
  Image img(20, 20, 3);
  cv_fill_circle(img, {10, 10}, 4, {1, 2, 3, 0});
  int n = 0;
  for (int y = 0; y < 20; ++y)
    for (int x = 0; x < 20; ++x) n += img.at(x, y, 0) == 1;
  EXPECT_EQ(n, 49);
  EXPECT_EQ(img.at(10, 6, 2), 3);
  EXPECT_EQ(img.at(10, 5, 2), 0);
  // Clipped at the border (rows of 5, 4, 4, 3, 1 pixels remain), nothing written outside.
  Image corner(5, 5, 3);
  cv_fill_circle(corner, {0, 0}, 4, {9, 9, 9, 0});
  n = 0;
  for (uint8_t v : corner.pixels) n += v == 9;
  EXPECT_EQ(n, 17 * 3);
  Image limb(6, 6, 3);
  cv_fill_convex_poly(limb, cv_ellipse2poly({-3, 2}, 10, 4, 30, 0, 360, 1), {7, 7, 7, 0});
  EXPECT_EQ(limb.at(2, 3, 0), 7);  // on the axis
  EXPECT_EQ(limb.at(4, 0, 0), 0);  // 5.2 pixels from it
}

// ---- Bad input ----

std::string error_of(const std::function<void()>& f) {
  return test::error_of(f);
}

TEST(OpenposeErrors, DepthCheckpointGivenAsPose) {
  const auto file = test::models_dir() / "annotators" / "tiny-depth-anything-v2.safetensors";
  const std::string e = error_of([&] { load_openpose_body(file); });
  EXPECT_NE(e.find("tiny-depth-anything-v2.safetensors"), std::string::npos) << e;
  EXPECT_NE(e.find("Depth Anything"), std::string::npos) << e;
  EXPECT_EQ(e.find('\n'), std::string::npos);
}

TEST(OpenposeErrors, OtherModelGivenAsPose) {
  const std::string e =
      error_of([&] { load_openpose_body(test::models_dir() / "annotators" / "tiny-hed.safetensors"); });
  EXPECT_NE(e.find("not an OpenPose body model"), std::string::npos) << e;
}

TEST(OpenposeErrors, TruncatedAndPickledFiles) {
  const auto dir = test::temp_dir("openpose_errors");
  std::ifstream in(model_file(), std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto truncated = dir / "truncated.safetensors";
  std::ofstream(truncated, std::ios::binary)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size() / 2));
  std::string e = error_of([&] { load_openpose_body(truncated); });
  EXPECT_NE(e.find("truncated.safetensors"), std::string::npos) << e;
  EXPECT_EQ(e.find('\n'), std::string::npos);

  const auto pth = dir / "body_pose_model.pth";
  std::ofstream(pth, std::ios::binary) << "PK\x03\x04 not really a zip";
  e = error_of([&] { load_openpose_body(pth); });
  EXPECT_NE(e.find("body_pose_model.pth"), std::string::npos) << e;
  EXPECT_NE(e.find("pickle"), std::string::npos) << e;
  EXPECT_NE(e.find("body_pose_model.safetensors"), std::string::npos) << e;  // the conversion command

  const auto renamed = dir / "renamed.safetensors";
  std::ofstream(renamed, std::ios::binary) << "\x80\x02}q\x00.";
  e = error_of([&] { load_openpose_body(renamed); });
  EXPECT_NE(e.find("pickle"), std::string::npos) << e;

  e = error_of([&] { load_openpose_body(dir / "missing.safetensors"); });
  EXPECT_NE(e.find("missing.safetensors"), std::string::npos) << e;
}

TEST(OpenposeErrors, WrongShapeNamesTheTensor) {
  const SafeTensors st = SafeTensors::open(model_file());
  Weights w = openpose_body_weights(st);
  w.add("Mconv3_stage4_L2.weight", Tensor::zeros({16, 15, 7, 7}));
  const std::string e = error_of([&] { OpenposeBody b(w); });
  EXPECT_NE(e.find("Mconv3_stage4_L2.weight"), std::string::npos) << e;
  Weights missing = test::weights_without(openpose_body_weights(st), "Mconv6_stage5_L1.bias");
  EXPECT_NE(error_of([&] { OpenposeBody b(missing); }).find("Mconv6_stage5_L1.bias"), std::string::npos);
}

TEST(OpenposeErrors, A1111PathRefusesHugePaddedPictures) {
  // 64x2048 at processor resolution 1024 would be 1024x32768 (twice 4096 x 4096 pixels).
  const std::string e = error_of([&] { openpose_a1111(Image(64, 2048, 3), tiny_body(), 1024); });
  EXPECT_NE(e.find("processor resolution 1024 makes a 1024x32768 picture"), std::string::npos) << e;
  EXPECT_NE(error_of([&] { openpose_a1111(Image(64, 64, 3), tiny_body(), 0); }).find("processor resolution"),
            std::string::npos);
}

TEST(OpenposeErrors, TinyImageAndBadResolutions) {
  Image one(1, 1, 3);
  std::string e = error_of([&] { openpose_preprocess(one, tiny_body(), 512, 512); });
  EXPECT_NE(e.find("1x1"), std::string::npos) << e;
  Image img(64, 64, 3);
  for (int res : {0, -5, 100000}) {
    e = error_of([&] { openpose_preprocess(img, tiny_body(), res, 512); });
    EXPECT_NE(e.find("detect_resolution " + std::to_string(res)), std::string::npos) << e;
    e = error_of([&] { openpose_preprocess(img, tiny_body(), 64, res); });
    EXPECT_NE(e.find("image_resolution " + std::to_string(res)), std::string::npos) << e;
  }
}

}  // namespace
}  // namespace i2i
