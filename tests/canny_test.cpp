// Canny edge maps against OpenCV 4.6 (the fixtures' `canny` cases and the ControlNet pipeline input): the
// maps must be identical, pixel for pixel. Also the OpenCV grey conversion and the control-image helpers.
#include "preprocess/canny.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "io/image.h"
#include "preprocess/control_image.h"
#include "support/fixtures.h"

namespace i2i {
namespace {

namespace fs = std::filesystem;

fs::path fixture(const std::string& rel) {
  return test::fixtures_dir() / rel;
}

// The number of pixels that differ (every channel compared); -1 when the sizes differ.
int64_t differing_pixels(const Image& a, const Image& b) {
  if (a.width != b.width || a.height != b.height || a.channels != b.channels) return -1;
  int64_t n = 0;
  for (size_t i = 0; i < a.pixels.size(); ++i) n += a.pixels[i] != b.pixels[i];
  return n;
}

int64_t count_value(const Image& a, uint8_t v) {
  int64_t n = 0;
  for (uint8_t p : a.pixels) n += p == v;
  return n;
}

TEST(Canny, MatchesOpenCVOnEveryFixtureCase) {
  const auto& cases = test::cases_json().at("groups").at("canny").at("cases");
  ASSERT_EQ(cases.size(), 4u);
  for (const auto& c : cases) {
    SCOPED_TRACE(c.at("id").get<std::string>());
    Image gray = read_image(fixture("cases/" + c.at("input_gray").get<std::string>()));
    ASSERT_EQ(gray.channels, 1);
    Image want = read_image(fixture("cases/" + c.at("output").get<std::string>()));
    ASSERT_EQ(want.channels, 1);
    // Thresholds from the id "<image>/<lo>_<hi>".
    const std::string id = c.at("id");
    const std::string th = id.substr(id.find('/') + 1);
    const int lo = std::stoi(th.substr(0, th.find('_'))), hi = std::stoi(th.substr(th.find('_') + 1));
    Image got = canny_gray(gray, lo, hi);
    EXPECT_EQ(differing_pixels(got, want), 0);
    EXPECT_EQ(count_value(got, 255), c.at("edge_pixels").get<int64_t>());
    EXPECT_EQ(count_value(got, 0) + count_value(got, 255), int64_t{512} * 512);
    // Swapped thresholds mean the same (as in OpenCV).
    EXPECT_EQ(differing_pixels(canny_gray(gray, hi, lo), want), 0);
  }
}

TEST(Canny, GrayConversionIsOpenCVs) {
  // The fixtures' grey images are cv2.cvtColor(rgb, COLOR_RGB2GRAY) of the 512x512 photos.
  for (const char* name : {"astronaut", "chelsea"}) {
    SCOPED_TRACE(name);
    Image rgb = to_rgb(read_image(fixture(std::string("images/") + name + "_512.png")));
    Image want = read_image(fixture(std::string("cases/canny/") + name + "_512_gray.png"));
    EXPECT_EQ(differing_pixels(gray_opencv(rgb), want), 0);
    // PIL's convert("L") rounds differently: the fixture really tells the two apart.
    EXPECT_GT(differing_pixels(to_gray(rgb), want), 0);
  }
}

TEST(Canny, ControlNetPipelineInputFromTheColourImage) {
  // cases/inputs/astronaut_64_canny_100_200.png: cv2.Canny(cvtColor(astronaut_64, RGB2GRAY), 100, 200),
  // stored with 3 equal channels.
  Image rgb = read_image(fixture("images/astronaut_64.png"));
  Image want = read_image(fixture("cases/inputs/astronaut_64_canny_100_200.png"));
  Image got = canny(rgb, 100, 200);
  ASSERT_EQ(got.channels, 1);
  Image got3 = to_rgb(got);
  if (want.channels == 1) want = to_rgb(want);
  EXPECT_EQ(differing_pixels(got3, want), 0);
  EXPECT_GT(count_value(got, 255), 0);
}

TEST(Canny, SmallAndFlatImages) {
  Image flat(5, 3, 1);
  for (auto& p : flat.pixels) p = 77;
  Image e = canny_gray(flat, 10, 20);
  EXPECT_EQ(count_value(e, 0), 15);
  Image one(1, 1, 1);
  EXPECT_EQ(canny_gray(one, 1, 2).pixels.size(), 1u);
  // A vertical step edge: edges along the step, nowhere else.
  Image step(8, 6, 1);
  for (int y = 0; y < 6; ++y)
    for (int x = 4; x < 8; ++x) step.at(x, y, 0) = 200;
  // |dx| = 800 at x = 3 and x = 4; the tie goes to the left one (strictly greater than the left
  // neighbour, at least the right one).
  Image s = canny_gray(step, 50, 100);
  for (int y = 0; y < 6; ++y)
    for (int x = 0; x < 8; ++x) EXPECT_EQ(s.at(x, y, 0), x == 3 ? 255 : 0) << x << "," << y;
}

TEST(Canny, RejectsBadInput) {
  Image rgb(4, 4, 3);
  EXPECT_THROW(canny_gray(rgb, 10, 20), Error);
  Image g(4, 4, 1);
  EXPECT_THROW(canny_gray(g, -1, 20), Error);
  Image bad;
  EXPECT_THROW(canny(bad, 10, 20), Error);
}

TEST(ControlImage, PassThroughMapsBecomeRGBOfTheTargetSize) {
  Image gray = read_image(fixture("cases/canny/chelsea_512_canny_100_200.png"));
  Image same = prepare_control_image(gray, 512, 512);
  ASSERT_EQ(same.channels, 3);
  for (size_t i = 0; i < gray.pixels.size(); ++i) {
    ASSERT_EQ(same.pixels[3 * i], gray.pixels[i]);
    ASSERT_EQ(same.pixels[3 * i + 2], gray.pixels[i]);
  }
  Image small = load_control_image(fixture("images/coffee_512.png"), 64, 48);
  EXPECT_EQ(small.width, 64);
  EXPECT_EQ(small.height, 48);
  EXPECT_EQ(small.channels, 3);
  EXPECT_THROW(load_control_image(fixture("images/no_such.png"), 64, 64), Error);
}

TEST(ControlImage, TensorIsNHWCInZeroOne) {
  Image im(2, 1, 1);
  im.pixels = {0, 255};
  Tensor t = control_image_tensor(im);
  EXPECT_EQ(t.shape(), (Shape{1, 1, 2, 3}));
  std::vector<float> v = t.to_vector();
  EXPECT_EQ(v, (std::vector<float>{0, 0, 0, 1, 1, 1}));
  Image c(1, 1, 3);
  c.pixels = {51, 102, 204};
  std::vector<float> w = control_image_tensor(c).to_vector();
  EXPECT_EQ(w[0], 51.f / 255.f);
  EXPECT_EQ(w[1], 102.f / 255.f);
  EXPECT_EQ(w[2], 204.f / 255.f);
}

}  // namespace
}  // namespace i2i
