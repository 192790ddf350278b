#include "tools/random_checkpoint.h"

#include <gtest/gtest.h>

#include <map>

#include "models/checkpoint.h"
#include "support/fixtures.h"

namespace i2i {
namespace {

// The generator's layout is the real one: for the tiny fixture shapes it must produce exactly the tensor
// names and shapes of the fixtures' SD 1.5 single file (written by diffusers' own converter).
TEST(RandomCheckpoint, TinyLayoutEqualsTheFixtureFile) {
  auto st = SafeTensors::open(test::fixtures_dir() / "models" / "tiny-sd15.safetensors");
  std::map<std::string, Shape> want, got;
  for (const auto& n : st.names()) want[n] = st.info(n).shape;
  for (const auto& s : sd_checkpoint_layout(SdShape::tiny_sd15())) got[s.name] = s.shape;
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
