// AUTOMATIC1111's mask handling (pipelines/inpaint_mask.h, inpaint.h): reading RGBA / grey masks, the
// blur, the "only masked" crop region, and end to end on a real photo with the tiny model: every pixel
// outside the blurred mask is byte-identical to the source, for every masked-content mode and for
// "only masked"; --no-composite returns the decoded picture.
#include <gtest/gtest.h>

#include "core/error.h"
#include "pipelines/inpaint.h"
#include "sampling/rng_torch.h"
#include "support/fixtures.h"
#include "support/pipeline_cases.h"

namespace i2i {
namespace {

Image solid(int w, int h, int channels, uint8_t v) {
  Image im(w, h, channels);
  std::fill(im.pixels.begin(), im.pixels.end(), v);
  return im;
}

// A white rectangle [x1, x2) x [y1, y2) on black, 1 channel.
Image rect_mask(int w, int h, int x1, int y1, int x2, int y2) {
  Image m(w, h, 1);
  for (int y = y1; y < y2; ++y)
    for (int x = x1; x < x2; ++x) m.at(x, y, 0) = 255;
  return m;
}

TEST(InpaintMask, ReadsAlphaGreyAndColour) {
  // RGBA with transparency: the alpha, thresholded at > 128 (the colour is ignored).
  Image rgba = solid(4, 1, 4, 0);
  const uint8_t alphas[4] = {0, 128, 129, 255};
  for (int x = 0; x < 4; ++x) rgba.at(x, 0, 3) = alphas[x];
  EXPECT_EQ(read_mask(rgba).pixels, (std::vector<uint8_t>{0, 0, 255, 255}));
  // Fully opaque RGBA: its grey levels, kept as they are.
  Image opaque = solid(2, 1, 4, 255);
  opaque.at(0, 0, 0) = opaque.at(0, 0, 1) = opaque.at(0, 0, 2) = 100;
  EXPECT_EQ(read_mask(opaque).pixels, (std::vector<uint8_t>{100, 255}));
  // RGB: PIL's convert("L").
  Image rgb = solid(1, 1, 3, 0);
  rgb.at(0, 0, 0) = 255;
  EXPECT_EQ(read_mask(rgb).pixels[0], to_gray(rgb).pixels[0]);
  EXPECT_EQ(invert_mask(read_mask(opaque)).pixels, (std::vector<uint8_t>{155, 0}));
}

TEST(InpaintMask, BlurIsAGaussianOfA1111Width) {
  const Image m = rect_mask(64, 64, 32, 0, 64, 64);  // right half white
  EXPECT_EQ(blur_mask(m, 0).pixels, m.pixels);
  const Image b = blur_mask(m, 4);
  // Symmetric about the edge between x = 31 and 32, monotone, a constant along y.
  for (int x = 0; x < 32; ++x) EXPECT_EQ(int(b.at(x, 10, 0)) + int(b.at(63 - x, 10, 0)), 255) << x;
  for (int x = 1; x < 64; ++x) EXPECT_LE(b.at(x - 1, 5, 0), b.at(x, 5, 0));
  // sigma 4: Phi(0.5 / 4) = 0.5497 -> 140 next to the edge; 21 taps: nothing beyond 10 pixels.
  EXPECT_EQ(b.at(32, 0, 0), 140);
  EXPECT_EQ(b.at(21, 0, 0), 0);
  EXPECT_GT(b.at(26, 0, 0), 0);
  EXPECT_THROW(blur_mask(m, -1), Error);
}

TEST(InpaintMask, CropRegionAndA1111Expansion) {
  const Image m = rect_mask(512, 512, 100, 200, 228, 232);  // 128 x 32
  auto box = get_crop_region(m, 0);
  ASSERT_TRUE(box);
  EXPECT_EQ(*box, (CropBox{100, 200, 228, 232}));
  // A1111's docstring example: a 128x32 region processed at 512x512 becomes 128x128.
  EXPECT_EQ(expand_crop_region(*box, 512, 512, 512, 512), (CropBox{100, 152, 228, 280}));
  // Padding is clipped to the image; near the edge the expansion shifts back inside.
  EXPECT_EQ(*get_crop_region(m, 150), (CropBox{0, 50, 378, 382}));
  const Image corner = rect_mask(512, 512, 0, 480, 64, 512);
  EXPECT_EQ(expand_crop_region(*get_crop_region(corner, 0), 64, 64, 512, 512), (CropBox{0, 448, 64, 512}));
  EXPECT_FALSE(get_crop_region(Image(8, 8, 1), 4));
}

TEST(InpaintMask, NamesOfMaskedContent) {
  for (auto c : {MaskedContent::Fill, MaskedContent::Original, MaskedContent::LatentNoise,
                 MaskedContent::LatentNothing})
    EXPECT_EQ(parse_masked_content(masked_content_name(c)), c);
  EXPECT_EQ(parse_masked_content("latent_noise"), MaskedContent::LatentNoise);
  EXPECT_THROW(parse_masked_content("blur"), Error);
}

TEST(InpaintMask, FillReplacesOnlyTheMaskedArea) {
  Image img = solid(32, 32, 3, 0);
  for (int y = 0; y < 32; ++y)
    for (int x = 0; x < 32; ++x) img.at(x, y, 0) = 200;  // red everywhere ...
  const Image m = rect_mask(32, 32, 8, 8, 24, 24);
  for (int y = 8; y < 24; ++y)
    for (int x = 8; x < 24; ++x) img.at(x, y, 2) = 255;  // ... with a blue-ish square under the mask
  Image f = fill_masked(img, m);
  EXPECT_EQ(f.at(0, 0, 0), 200);
  EXPECT_NEAR(f.at(16, 16, 0), 200, 2);  // the square takes the surrounding red
  EXPECT_NEAR(f.at(16, 16, 2), 0, 2);
}

// ---- end to end on a real photo
// ----------------------------------------------------------------------------

const Image& photo() {
  static const Image img = to_rgb(read_image(test::fixtures_dir() / "images" / "astronaut_512.png"));
  return img;
}

std::vector<Image> run_job(const Image& source, const Image& mask, const MaskOptions& o, int size,
                           bool composite, InpaintSetup* setup_out = nullptr) {
  InpaintSetup s = prepare_inpaint(source, mask, size, size, o);
  Img2ImgRequest req;
  req.init_image = image_to_tensor(s.work_image);
  req.mask = mask_to_tensor(s.work_mask);
  req.latent_fill = s.latent_fill;
  req.prompt = "a red flower";
  req.negative_prompt = "blurry";
  req.steps = 4;
  req.strength = 0.75;
  req.sampler = "Euler a";
  TorchCpuGenerator gen(7);
  Img2ImgResult r = run_img2img(test::fixture_model("tiny-sd15.safetensors"), req, {&gen});
  if (setup_out) *setup_out = s;
  return {finish_inpaint(s, tensor_to_image(r.images, 0), composite), tensor_to_image(r.images, 0)};
}

// Pixels where the overlay mask is 0 equal the source; returns how many pixels of the masked area changed.
size_t expect_outside_identical(const Image& out, const Image& source, const Image& overlay) {
  EXPECT_EQ(out.width, source.width);
  EXPECT_EQ(out.height, source.height);
  size_t outside = 0, bad = 0, changed = 0;
  for (size_t i = 0; i < overlay.pixels.size(); ++i) {
    bool same = true;
    for (int c = 0; c < 3; ++c) same = same && out.pixels[i * 3 + c] == source.pixels[i * 3 + c];
    if (overlay.pixels[i] == 0) {
      ++outside;
      bad += !same;
    } else {
      changed += !same;
    }
  }
  EXPECT_GT(outside, overlay.pixels.size() / 4);
  EXPECT_EQ(bad, 0u) << "pixels outside the mask that differ from the source";
  return changed;
}

class MaskedContentCase : public ::testing::TestWithParam<MaskedContent> {};

TEST_P(MaskedContentCase, PixelsOutsideTheMaskAreTheSource) {
  // A 128x128 piece of the photo (the helmet), processed at its own size.
  const Image source = crop_image(photo(), {160, 40, 288, 168});
  const Image mask = rect_mask(128, 128, 40, 48, 96, 100);
  MaskOptions o;
  o.content = GetParam();
  InpaintSetup s;
  auto out = run_job(source, mask, o, 128, true, &s);
  EXPECT_GT(expect_outside_identical(out[0], source, s.overlay_mask), 1000u);
  // --no-composite: the decoded picture, which differs from the source outside the mask too.
  auto raw = run_job(source, mask, o, 128, false);
  EXPECT_EQ(raw[0].pixels, raw[1].pixels);
  EXPECT_NE(raw[0].pixels, out[0].pixels);
}

INSTANTIATE_TEST_SUITE_P(AllModes, MaskedContentCase,
                         ::testing::Values(MaskedContent::Original, MaskedContent::Fill,
                                           MaskedContent::LatentNoise, MaskedContent::LatentNothing),
                         [](const auto& info) {
                           std::string n = masked_content_name(info.param);
                           for (char& ch : n)
                             if (ch == ' ') ch = '_';
                           return n;
                         });

TEST(InpaintOnlyMasked, WorksAtFullResolutionAndPastesBack) {
  // The full 512x512 photo; a 40x24 mask worked on at 64x64 (the box + 8 px padding, squared).
  const Image mask = rect_mask(512, 512, 300, 200, 340, 224);
  MaskOptions o;
  o.only_masked = true;
  o.padding = 8;
  o.blur = 2;
  InpaintSetup s;
  auto out = run_job(photo(), mask, o, 64, true, &s);
  ASSERT_TRUE(s.crop);
  // Blur 2 reaches 5 px beyond the rectangle; + 8 padding: x 287..353, y 187..237 -> widened to square.
  EXPECT_EQ(s.crop->width(), s.crop->height());
  EXPECT_EQ(s.crop->x1, 287);
  EXPECT_EQ(s.crop->x2, 353);
  EXPECT_EQ(out[0].width, 512);
  EXPECT_GT(expect_outside_identical(out[0], photo(), s.overlay_mask), 500u);
  // Without the overlay the work area is pasted back as generated; outside the crop box (from y = 179) the
  // source stays.
  EXPECT_EQ(s.crop->y1, 179);
  auto raw = run_job(photo(), mask, o, 64, false);
  EXPECT_EQ(crop_image(raw[0], {0, 0, 512, 179}).pixels, crop_image(photo(), {0, 0, 512, 179}).pixels);
}

TEST(InpaintSetupErrors, EmptyMaskAndWrongSize) {
  const Image source = solid(64, 64, 3, 90);
  try {
    prepare_inpaint(source, Image(64, 64, 1), 64, 64, {});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("nothing to repaint"), std::string::npos) << e.what();
  }
  // Inverting an all-white mask leaves nothing either.
  MaskOptions inv;
  inv.invert = true;
  EXPECT_THROW(prepare_inpaint(source, solid(64, 64, 1, 255), 64, 64, inv), Error);
  EXPECT_THROW(prepare_inpaint(source, solid(32, 64, 1, 255), 64, 64, {}), Error);
}

}  // namespace
}  // namespace i2i
