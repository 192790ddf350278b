// bf16 quality guard: a reduced-size but structurally complete SD 1.5 UNet (model_channels 64 instead of 320,
// every level, transformer and skip of the real one, random weights) run in bf16 must stay close to the
// same UNet in fp32: relative error ||bf16 - fp32|| / ||fp32||.
//
// Budget: bf16 keeps 8 significant bits (unit round-off u = 2^-9 = 2e-3); rounding both operands of a
// matmul / convolution (float32 accumulation) gives each layer a relative error of about sqrt(2) * u /
// sqrt(3) = 1.6e-3 (measured 2.4e-3 after conv_in alone), and the ~60 rounded layers on the UNet's path add
// up in quadrature to about sqrt(60) * 1.6e-3 = 1.2e-2. Measured with per-block intermediates: the error
// grows smoothly block by block to 1.16e-2 (seed 11) and 1.26e-2 (seed 12) at the output, so the 1e-2 the
// issue asked for is below what bf16 operands themselves cost on this network; the bound is 2e-2. Any real
// fault is far above it: bf16 accumulation over K = 2880 terms, a bf16 softmax or a wrong kernel give errors
// of 5e-2 to O(1).
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "kernels/precision.h"
#include "models/ldm_keys.h"
#include "models/unet.h"
#include "models/unet_config.h"
#include "tools/random_checkpoint.h"

namespace i2i {
namespace {

Tensor uniform(Shape shape, float lo, float hi, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  Tensor t = Tensor::empty(std::move(shape));
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = dist(rng);
  return t;
}

double relative_error(const Tensor& a, const Tensor& b) {
  double num = 0, den = 0;
  for (int64_t i = 0; i < b.numel(); ++i) {
    const double d = static_cast<double>(a.data<float>()[i]) - b.data<float>()[i];
    num += d * d;
    den += static_cast<double>(b.data<float>()[i]) * b.data<float>()[i];
  }
  return std::sqrt(num / den);
}

TEST(Bf16Quality, ReducedSd15UNetStaysWithinTwoPercentOfFp32) {
  SdShape shape = SdShape::sd15();
  shape.model_channels = 64;  // 64 / 128 / 256 / 256 channels, 8 heads per level as SD 1.5
  // The VAE and text encoder are not used here: keep them small so the checkpoint builds quickly.
  shape.vae_channels = 32;
  shape.text_hidden = 64;
  shape.text_layers = 1;
  shape.text_intermediate = 128;
  shape.vocab = 1000;
  const Weights ck = random_checkpoint_weights(shape, DType::F16, 11);
  const Weights w = unet_weights_from_ldm(ck);
  const UNetConfig config = infer_unet_config(w);
  ASSERT_EQ(config.block_out_channels, (std::vector<int64_t>{64, 128, 256, 256}));

  const Tensor sample = uniform({2, 32, 32, 4}, -1.5f, 1.5f, 1);
  const Tensor context = uniform({2, 77, 768}, -1.f, 1.f, 2);
  const std::vector<float> t = {701.f, 300.f};
  const Tensor ref = UNet2DCondition(w, config, Precision::F32).forward(sample, t, context);
  const Tensor got = UNet2DCondition(w, config, Precision::BF16).forward(sample, t, context);
  ASSERT_EQ(got.shape(), ref.shape());
  for (int64_t i = 0; i < got.numel(); ++i) ASSERT_TRUE(std::isfinite(got.data<float>()[i])) << i;
  const double rel = relative_error(got, ref);
  std::printf("bf16 vs fp32 relative error: %.3g (cpu_has_bf16: %d)\n", rel, cpu_has_bf16() ? 1 : 0);
  EXPECT_LT(rel, 2e-2);
  // The bf16 model really rounds its operands (native or emulated): it cannot agree to float32 round-off.
  EXPECT_GT(rel, 1e-5);
}

}  // namespace
}  // namespace i2i
