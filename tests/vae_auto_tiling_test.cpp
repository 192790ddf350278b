// Automatic VAE tiling: the working-memory estimate, the decision against the available memory, reading
// MemAvailable, and that encode_auto / decode_auto run whole or tiled as decided.
#include <gtest/gtest.h>

#include <cstring>

#include "core/memory.h"
#include "models/vae.h"
#include "models/vae_load.h"
#include "support/fixtures.h"

namespace i2i {
namespace {

constexpr int64_t kGiB = int64_t{1} << 30;

TEST(VaeAutoTiling, WorkingMemoryEstimate) {
  const VaeConfig sd;  // SD's VAE: 128, 256, 512, 512
  const int64_t b512 = vae_working_bytes(sd, 1, 512, 512);
  // 512 * 512 pixels x 4 bytes x (3 x 256 + 128) = 0.875 GiB: the measured bf16 decode (~0.85 GB above the
  // weights) must not be underestimated by much.
  EXPECT_EQ(b512, int64_t{512} * 512 * 4 * (3 * 256 + 128));
  EXPECT_GT(b512, 800'000'000);
  EXPECT_EQ(vae_working_bytes(sd, 1, 1024, 1024), 4 * b512);  // linear in pixels
  EXPECT_EQ(vae_working_bytes(sd, 2, 512, 512), 2 * b512);    // and in the batch
}

TEST(VaeAutoTiling, Decision) {
  const VaeConfig sd;
  const int64_t b512 = vae_working_bytes(sd, 1, 512, 512), b2048 = vae_working_bytes(sd, 1, 2048, 2048);
  EXPECT_FALSE(vae_should_tile(b512, 8 * kGiB));  // the usual case: whole
  EXPECT_FALSE(vae_should_tile(b512, 2 * kGiB));
  EXPECT_TRUE(vae_should_tile(b512, 1 * kGiB));   // 0.875 GiB > 3/4 of 1 GiB
  EXPECT_TRUE(vae_should_tile(b2048, 8 * kGiB));  // 14 GiB of activations
  EXPECT_FALSE(vae_should_tile(b2048, 32 * kGiB));
  EXPECT_FALSE(vae_should_tile(b2048, -1));  // unknown: never
  EXPECT_FALSE(vae_should_tile(3 * kGiB, 4 * kGiB));
  EXPECT_TRUE(vae_should_tile(3 * kGiB + 1, 4 * kGiB));
}

TEST(VaeAutoTiling, MemAvailable) {
  EXPECT_EQ(parse_mem_available("MemTotal:       24684256 kB\nMemFree:        19261000 kB\n"
                                "MemAvailable:   23015788 kB\nBuffers: 1 kB\n"),
            int64_t{23015788} * 1024);
  EXPECT_EQ(parse_mem_available("MemTotal: 100 kB\n"), -1);
  EXPECT_EQ(parse_mem_available("MemAvailable: x kB\n"), -1);
  EXPECT_GT(available_memory_bytes(), 0);  // this machine has /proc/meminfo
}

// The tiny fixture VAE at a size of several tiles (tile 64 latent pixels): with little memory the auto
// path gives exactly the tiled result, with plenty exactly the whole one (and those two differ).
TEST(VaeAutoTiling, AutoRunsTiledOrWhole) {
  const AutoencoderKL vae = load_vae_diffusers(test::fixtures_dir() / "models" / "tiny-sd15" / "vae");
  const int64_t f = vae.downscale();
  Tensor z = Tensor::empty({1, 80, 72, vae.config().latent_channels});
  for (int64_t i = 0; i < z.numel(); ++i)
    z.data<float>()[i] = static_cast<float>((i * 37 % 101) - 50) / 40.0f;
  const Tensor whole = vae.decode(z), tiled = vae.decode_tiled(z);
  auto same = [](const Tensor& a, const Tensor& b) {
    return a.shape() == b.shape() && std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0;
  };
  ASSERT_FALSE(same(whole, tiled));
  EXPECT_TRUE(same(vae.decode_auto(z, 1), tiled));
  EXPECT_TRUE(same(vae.decode_auto(z, 64 * kGiB), whole));
  EXPECT_TRUE(same(vae.decode_auto(z, -1), whole));

  Tensor image = Tensor::empty({1, 80 * f, 72 * f, 3});
  for (int64_t i = 0; i < image.numel(); ++i)
    image.data<float>()[i] = static_cast<float>((i * 13 % 61) - 30) / 30.0f;
  const VaePosterior pw = vae.encode(image), pt = vae.encode_tiled(image);
  ASSERT_FALSE(same(pw.mean, pt.mean));
  EXPECT_TRUE(same(vae.encode_auto(image, 1).mean, pt.mean));
  EXPECT_TRUE(same(vae.encode_auto(image, 64 * kGiB).mean, pw.mean));
}

}  // namespace
}  // namespace i2i
