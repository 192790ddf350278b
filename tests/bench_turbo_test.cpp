// The img2img_turbo stage's code (tools/bench_turbo.h) on the tiny SD 2.x shape: the random model is an
// SD 2.x model (OpenCLIP text encoder without its last block, Linear projections), and one turbo img2img runs
// one UNet pass at t = 499 and decodes a picture of the init image's size.
#include "tools/bench_turbo.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

namespace i2i::bench {
namespace {

TEST(BenchTurbo, RandomSd2ModelRunsOneTurboImg2Img) {
  SdShape shape = SdShape::tiny_sd2();
  shape.model_channels = 32;
  shape.channel_mult = {1, 2};
  shape.attention = {true, true};
  shape.transformer_depth = {1, 1};
  shape.res_blocks = 1;
  shape.context_dim = 64;
  shape.vae_channels = 32;
  shape.vae_mult = {1, 1, 1, 1};  // 8x downsampling, as SD's VAE
  shape.vae_res_blocks = 1;
  shape.vocab = 1000;
  shape.openclip_width = 64;
  shape.openclip_layers = 3;
  shape.openclip_mlp = 128;
  const SdModel m = random_sd2_model(shape, Precision::F32, 7);
  EXPECT_EQ(m.unet.config().cross_attention_dim, shape.context_dim);
  EXPECT_TRUE(m.unet.config().use_linear_projection);
  EXPECT_EQ(m.text_encoder.config().hidden_size, shape.openclip_width);
  EXPECT_EQ(m.text_encoder.config().num_layers, shape.openclip_layers - 1);  // penultimate block's output

  Tensor ids = Tensor::empty({1, 77}, DType::I64);
  for (int64_t i = 0; i < 77; ++i) ids.data<int64_t>()[i] = (i * 37) % shape.vocab;
  Tensor image = Tensor::empty({1, 64, 64, 3});
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  for (int64_t i = 0; i < image.numel(); ++i) image.data<float>()[i] = dist(rng);

  const Img2ImgResult r = run_turbo_img2img(m, ids, image, 1);
  ASSERT_EQ(r.step_timesteps.size(), 1u);            // int(2 * 0.5) = 1 step
  EXPECT_DOUBLE_EQ(r.step_timesteps[0], 499);        // trailing
  EXPECT_FALSE(r.negative_prompt_embeds.defined());  // no guidance: one UNet pass of batch 1
  ASSERT_EQ(r.images.shape(), (Shape{1, 64, 64, 3}));
  for (int64_t i = 0; i < r.images.numel(); ++i) ASSERT_TRUE(std::isfinite(r.images.data<float>()[i]));

  EXPECT_GT(turbo_img2img_flops(m, 64, 77), 0);
}

}  // namespace
}  // namespace i2i::bench
