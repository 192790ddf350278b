#include "tools/random_checkpoint.h"

#include <gtest/gtest.h>

#include <map>

#include "models/checkpoint.h"
#include "support/fixtures.h"

namespace i2i {
namespace {

// The generator's layout is the real one: for the tiny fixture shapes it must produce exactly the tensor
// names and shapes of the fixtures' single files (written by diffusers' own converters): SD 1.5, SD 2.x
// (OpenCLIP text tower) and SDXL base (two text encoders, label_emb, transformers of depth 2 and 3).
void expect_layout_equals_file(const SdShape& shape, const std::string& file) {
  SCOPED_TRACE(file);
  auto st = SafeTensors::open(test::fixtures_dir() / "models" / file);
  std::map<std::string, Shape> want, got;
  for (const auto& n : st.names()) want[n] = st.info(n).shape;
  for (const auto& s : sd_checkpoint_layout(shape)) got[s.name] = s.shape;
  for (const auto& [name, shape] : want) {
    auto it = got.find(name);
    if (it == got.end()) {
      ADD_FAILURE() << "missing " << name;
      continue;
    }
    EXPECT_EQ(shape_str(it->second), shape_str(shape)) << name;
  }
  for (const auto& [name, shape] : got) EXPECT_TRUE(want.count(name)) << "extra " << name;
}

TEST(RandomCheckpoint, TinyLayoutEqualsTheFixtureFile) {
  expect_layout_equals_file(SdShape::tiny_sd15(), "tiny-sd15.safetensors");
}
TEST(RandomCheckpoint, TinySd2LayoutEqualsTheFixtureFile) {
  expect_layout_equals_file(SdShape::tiny_sd2(), "tiny-sd2v.fp16.safetensors");
}
TEST(RandomCheckpoint, TinySdxlLayoutEqualsTheFixtureFile) {
  expect_layout_equals_file(SdShape::tiny_sdxl(), "tiny-sdxl.fp16.safetensors");
}

// The full-size shapes have the published parameter counts (UNet / whole checkpoint): SD 1.5 860M / 1.07B,
// SD 2.1 866M / 1.30B, SDXL base 2.567B / 3.47B (its fp16 file is 6.94 GB).
TEST(RandomCheckpoint, FullSizeParameterCounts) {
  auto unet = [](const SdShape& s) {
    int64_t n = 0;
    for (const auto& t : sd_checkpoint_layout(s))
      if (t.name.rfind("model.diffusion_model.", 0) == 0) n += shape_numel(t.shape);
    return static_cast<double>(n);
  };
  EXPECT_NEAR(unet(SdShape::sd15()), 859.52e6, 0.01e6);
  EXPECT_NEAR(unet(SdShape::sd21()), 865.91e6, 0.01e6);
  EXPECT_NEAR(unet(SdShape::sdxl()), 2567.46e6, 0.01e6);
  EXPECT_NEAR(static_cast<double>(checkpoint_parameter_count(SdShape::sdxl())), 3.47e9, 0.01e9);
}

TEST(RandomCheckpoint, WritesALoadableDeterministicFile) {
  auto dir = test::temp_dir("random_checkpoint");
  write_random_checkpoint(dir / "a.safetensors", SdShape::tiny_sd15(), DType::F16, 7);
  auto ck = open_checkpoint(dir / "a.safetensors");
  EXPECT_EQ(ck.family, ModelFamily::SD1);
  auto a = SafeTensors::open(dir / "a.safetensors");
  const std::string name = "model.diffusion_model.input_blocks.1.0.in_layers.2.weight";
  Tensor w = a.get_f32(name);
  Weights mem = random_checkpoint_weights(SdShape::tiny_sd15(), DType::F16, 7);
  EXPECT_EQ(test::max_abs_diff(w, mem.get(name)).max_abs, 0.0);
  // Spread as specified: N(0, 1/sqrt(fan_in)), fan_in = 16 * 3 * 3.
  auto v = w.to_vector();
  double ss = 0;
  for (float x : v) ss += x * x;
  EXPECT_NEAR(std::sqrt(ss / v.size()), 1.0 / 12.0, 0.01);
}

}  // namespace
}  // namespace i2i
