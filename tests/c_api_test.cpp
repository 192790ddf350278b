#include <gtest/gtest.h>

#include "i2i/i2i.h"
#include "io/image.h"
#include "support/fixtures.h"

namespace {

TEST(CApi, Img2ImgMatchesTheFixture) {
  std::string model = (i2i::test::fixtures_dir() / "models" / "tiny-sd15.safetensors").string();
  std::string tok = (i2i::test::fixtures_dir() / "tokenizer").string();
  char* err = nullptr;
  i2i_model* m = i2i_model_load(model.c_str(), tok.c_str(), &err);
  ASSERT_NE(m, nullptr) << err;
  i2i::Image init = i2i::read_image(i2i::test::fixtures_dir() / "cases" / "inputs" / "astronaut_64.png");
  i2i_img2img_params p;
  i2i_img2img_defaults(&p);
  p.prompt = "a photograph of an astronaut riding a horse, highly detailed";
  p.negative_prompt = "blurry, low quality, watermark";
  p.strength = 0.6;
  p.steps = 10;
  p.cfg_scale = 7.5;
  p.sampler = "DDIM";
  p.seed = 1234;
  std::vector<uint8_t> out(64 * 64 * 3);
  ASSERT_EQ(i2i_img2img(m, init.pixels.data(), 64, 64, &p, out.data(), &err), 0) << err;
  i2i::Image want =
      i2i::read_image(i2i::test::fixtures_dir() / "cases" / "pipelines" / "sd15_img2img_DDIM_s0.6.png");
  int worst = 0;
  for (size_t i = 0; i < out.size(); ++i)
    worst = std::max(worst, std::abs(int(out[i]) - int(want.pixels[i])));
  EXPECT_LE(worst, 1);

  EXPECT_NE(i2i_img2img(m, init.pixels.data(), 60, 64, &p, out.data(), &err), 0);
  ASSERT_NE(err, nullptr);
  EXPECT_NE(std::string(err).find("multiples of 8"), std::string::npos) << err;
  i2i_free_error(err);
  i2i_model_free(m);
}

TEST(CApi, LoadErrorIsReported) {
  char* err = nullptr;
  EXPECT_EQ(i2i_model_load("/nonexistent/model.safetensors", nullptr, &err), nullptr);
  ASSERT_NE(err, nullptr);
  EXPECT_NE(std::string(err).find("no such file"), std::string::npos) << err;
  i2i_free_error(err);
  EXPECT_STREQ(i2i_version(), "0.1.0");
}

}  // namespace
