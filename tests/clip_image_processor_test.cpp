// The CLIP image processor against the fixtures' `image_processor` group (cases/ip_adapter.json):
// transformers' CLIPImageProcessor() on PIL pictures. The resize (PIL 9.4 bicubic, antialiased, 8-bit) must
// give the fixtures' resized PNGs exactly; everything after it is exact float32 arithmetic, so pixel_values
// must match to float32 rounding (one uint8 level would move them by ~0.015).
#include "preprocess/clip_image_processor.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "io/image.h"
#include "io/image_resize.h"
#include "support/fixtures.h"

namespace i2i {
namespace {

namespace fs = std::filesystem;

const std::string kIndex = "ip_adapter.json";

// The same operations in the same order as numpy: the only freedom is none, but allow float32 rounding of
// one operation should a compiler reorder (it may not without -ffast-math).
constexpr double kPixelAtol = 1e-6;

const nlohmann::json& cases() {
  return test::index_json(kIndex).at("groups").at("image_processor").at("cases");
}

int64_t differing_samples(const Image& a, const Image& b) {
  if (a.width != b.width || a.height != b.height || a.channels != b.channels) return -1;
  int64_t n = 0;
  for (size_t i = 0; i < a.pixels.size(); ++i) n += a.pixels[i] != b.pixels[i];
  return n;
}

TEST(ClipImageProcessor, FixtureHasTheFourCases) {
  ASSERT_EQ(cases().size(), 4u);
}

TEST(ClipImageProcessor, GeometryMatchesEveryCase) {
  for (const auto& c : cases()) {
    SCOPED_TRACE(c.at("id").get<std::string>());
    const auto in = c.at("input_size_wh"), resized = c.at("resized_size_wh"), crop = c.at("crop_top_left");
    const ClipImageGeometry g = clip_image_geometry(in[0].get<int>(), in[1].get<int>());
    EXPECT_EQ(g.resized_width, resized[0].get<int>());
    EXPECT_EQ(g.resized_height, resized[1].get<int>());
    EXPECT_EQ(g.crop_top, crop[0].get<int>());
    EXPECT_EQ(g.crop_left, crop[1].get<int>());
  }
}

TEST(ClipImageProcessor, ResizeIsPilBicubicExactly) {
  for (const auto& c : cases()) {
    SCOPED_TRACE(c.at("id").get<std::string>());
    const Image input = read_image(test::fixtures_dir() / c.at("input").get<std::string>());
    const Image want =
        read_image(test::fixtures_dir() / c.at("outputs").at("resized_uint8_png").get<std::string>());
    ASSERT_EQ(want.channels, 3);
    const Image got = clip_image_resize(input);
    EXPECT_EQ(got.width, c.at("resized_size_wh")[0].get<int>());
    EXPECT_EQ(got.height, c.at("resized_size_wh")[1].get<int>());
    EXPECT_EQ(differing_samples(got, want), 0);
  }
}

TEST(ClipImageProcessor, PixelValuesMatchEveryCase) {
  for (const auto& c : cases()) {
    SCOPED_TRACE(c.at("id").get<std::string>());
    const Image input = read_image(test::fixtures_dir() / c.at("input").get<std::string>());
    const Tensor want = nchw_to_nhwc(
        test::index_tensors(kIndex).get(c.at("outputs").at("pixel_values").at("key")).to(DType::F32));
    const Tensor got = clip_image_pixels(input);
    EXPECT_TRUE(test::all_close(got, want, kPixelAtol, "pixel_values"));
  }
}

// Alpha is dropped (convert('RGB')), grey is replicated; a picture already 224 x 224 is not resampled.
TEST(ClipImageProcessor, ConvertsToRgbFirst) {
  Image rgba(224, 224, 4);
  for (size_t i = 0; i < rgba.pixels.size(); ++i) rgba.pixels[i] = static_cast<uint8_t>(i * 7);
  const Image resized = clip_image_resize(rgba);
  EXPECT_EQ(differing_samples(resized, to_rgb(rgba)), 0);
  Image grey(300, 200, 1);
  for (size_t i = 0; i < grey.pixels.size(); ++i) grey.pixels[i] = static_cast<uint8_t>(i * 13);
  const Tensor a = clip_image_pixels(grey), b = clip_image_pixels(to_rgb(grey));
  EXPECT_TRUE(test::all_close(a, b, 0.0, "grey vs rgb"));
  EXPECT_EQ(a.shape(), (Shape{1, 224, 224, 3}));
}

TEST(ClipImageProcessor, RejectsBadSizes) {
  EXPECT_NE(test::error_of([] { clip_image_geometry(0, 10); }).find("bad picture size"), std::string::npos);
  EXPECT_NE(test::error_of([] { clip_image_geometry(10, 10, 0); }).find("bad target size"),
            std::string::npos);
  // 1 x 60000: the long side would become 224 * 60000 pixels.
  EXPECT_NE(test::error_of([] { clip_image_geometry(1, 60000); }).find("too elongated"), std::string::npos);
}

}  // namespace
}  // namespace i2i
