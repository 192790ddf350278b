// Noise sources vs the fixtures' `rng` group (torch CPU generator) and cases/rng_philox.* (A1111 GPU seeds).
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <fstream>

#include "core/error.h"
#include "sampling/noise.h"
#include "sampling/rng_philox.h"
#include "sampling/rng_torch.h"
#include "support/fixtures.h"

namespace i2i {
namespace {

using test::cases_json;
using test::ref_tensor;

int64_t ulp_distance(float a, float b) {
  auto key = [](float v) {
    int32_t i = std::bit_cast<int32_t>(v);
    return i < 0 ? static_cast<int64_t>(INT32_MIN) - i : static_cast<int64_t>(i);
  };
  return std::llabs(key(a) - key(b));
}

// Largest ulp distance between two float32 tensors of equal size.
int64_t max_ulp(const Tensor& got, const Tensor& want) {
  EXPECT_EQ(got.shape(), want.shape());
  std::vector<float> a = got.to_vector(), b = want.to_vector();
  int64_t worst = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) worst = std::max(worst, ulp_distance(a[i], b[i]));
  return worst;
}

Shape shape_of(const nlohmann::json& j) {
  return j.get<Shape>();
}

TEST(TorchCpuGenerator, EveryFloat32CaseBitExact) {
  // The float path of PyTorch (>= 16 values) uses avx_mathfun's log/sincos on AVX2 machines; our
  // lane-wise emulation of those functions reproduces it, so every case is compared bit for bit.
  int checked = 0;
  for (const auto& c : cases_json()["groups"]["rng"]["cases"]) {
    if (c["dtype"] != "float32") continue;
    TorchCpuGenerator g(c["seed"].get<uint64_t>());
    nlohmann::json shapes = c.contains("shapes") ? c["shapes"] : nlohmann::json::array({c["shape"]});
    nlohmann::json refs = c["values"].is_array() ? c["values"] : nlohmann::json::array({c["values"]});
    ASSERT_EQ(shapes.size(), refs.size());
    for (size_t i = 0; i < shapes.size(); ++i) {
      Tensor want = ref_tensor("rng", refs[i]);
      Tensor got = g.randn(shape_of(shapes[i]));
      EXPECT_EQ(max_ulp(got, want), 0) << c["id"] << " draw " << i;
      ++checked;
    }
  }
  EXPECT_GE(checked, 30);
}

TEST(TorchCpuGenerator, Float64AndFloat16Draws) {
  int checked = 0;
  for (const auto& c : cases_json()["groups"]["rng"]["cases"]) {
    std::string dt = c["dtype"];
    if (dt == "float32") continue;
    TorchCpuGenerator g(c["seed"].get<uint64_t>());
    Tensor want = ref_tensor("rng", c["values"]);
    Shape shape = shape_of(c["shape"]);
    if (dt == "float64") {
      Tensor got = g.randn_f64(shape);
      ASSERT_EQ(got.dtype(), DType::F64);
      ASSERT_EQ(want.dtype(), DType::F64);
      ASSERT_EQ(got.shape(), want.shape());
      // Double Box-Muller with libm's correctly rounded log/sin/cos: exact.
      for (int64_t i = 0; i < got.numel(); ++i)
        EXPECT_EQ(got.data<double>()[i], want.data<double>()[i]) << c["id"] << " index " << i;
    } else {
      ASSERT_EQ(dt, "float16");
      Tensor got = g.randn_f16(shape);
      ASSERT_EQ(got.dtype(), DType::F16);
      ASSERT_EQ(want.dtype(), DType::F16);
      ASSERT_EQ(got.shape(), want.shape());
      for (int64_t i = 0; i < got.numel(); ++i)
        EXPECT_EQ(got.data<uint16_t>()[i], want.data<uint16_t>()[i]) << c["id"] << " index " << i;
    }
    ++checked;
  }
  EXPECT_EQ(checked, 8);
}

TEST(TorchCpuGenerator, SmallDrawsShareTheCachedValue) {
  // Two draws of 1 value equal one draw of 2 values: the second Box-Muller output is cached in the generator.
  TorchCpuGenerator a(7), b(7);
  Tensor two = a.randn({2});
  Tensor first = b.randn({1}), second = b.randn({1});
  EXPECT_EQ(two.data<float>()[0], first.data<float>()[0]);
  EXPECT_EQ(two.data<float>()[1], second.data<float>()[0]);
}

TEST(TorchCpuGenerator, SeedUsesLow32Bits) {
  TorchCpuGenerator a(5), b((uint64_t{3} << 32) | 5);
  EXPECT_EQ(max_ulp(a.randn({1, 4, 8, 8}), b.randn({1, 4, 8, 8})), 0);
}

nlohmann::json philox_json() {
  std::ifstream in(test::fixtures_dir() / "cases" / "rng_philox.json");
  return nlohmann::json::parse(in);
}

TEST(PhiloxGenerator, EveryCase) {
  SafeTensors file = SafeTensors::open(test::fixtures_dir() / "cases" / "rng_philox.safetensors");
  nlohmann::json j = philox_json();
  int checked = 0;
  for (const auto& c : j["cases"]) {
    PhiloxGenerator g(c["seed"].get<uint64_t>());
    // Draws before this one advance the offset (the "sequence" cases use offsets 1, 2, 3).
    for (int64_t k = 0; k < c["offset"].get<int64_t>(); ++k) g.randn({1});
    Tensor got = g.randn(shape_of(c["shape"]));
    Tensor want = file.get_f32(c["key"]);
    // The README: float32 log/sin implementations differ by about 1e-6 on values up to ~5.
    EXPECT_TRUE(test::all_close(got, want, 2e-6, c["key"]));
    ++checked;
  }
  EXPECT_EQ(checked, 28);
}

TEST(PhiloxGenerator, OffsetCanBeSet) {
  PhiloxGenerator a(42), b(42);
  a.randn({3});
  b.set_offset(1);
  EXPECT_EQ(max_ulp(a.randn({1, 4, 8, 8}), b.randn({1, 4, 8, 8})), 0);
}

TEST(ReplayNoise, PlaysBackInOrderAndFailsClearly) {
  Tensor a = Tensor::from_vector({2}, {1.0f, 2.0f});
  Tensor b = Tensor::from_vector({1, 3}, {3.0f, 4.0f, 5.0f});
  ReplayNoise r({a, b});
  EXPECT_EQ(r.randn({2}).to_vector(), a.to_vector());
  try {
    r.randn({3});
    FAIL() << "shape mismatch not reported";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("[1, 3]"), std::string::npos) << e.what();
  }
  EXPECT_EQ(r.randn({1, 3}).to_vector(), b.to_vector());
  try {
    r.randn({2});
    FAIL() << "exhaustion not reported";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("exhausted"), std::string::npos) << e.what();
  }
}

TEST(NchwNoiseForNhwc, PermutesTheTorchOrder) {
  TorchCpuGenerator g1(3), g2(3);
  NchwNoiseForNhwc adapter(g2);
  Tensor nchw = g1.randn({1, 4, 2, 3});
  Tensor nhwc = adapter.randn({1, 2, 3, 4});
  for (int c = 0; c < 4; ++c)
    for (int y = 0; y < 2; ++y)
      for (int x = 0; x < 3; ++x)
        EXPECT_EQ(nhwc.data<float>()[(y * 3 + x) * 4 + c], nchw.data<float>()[(c * 2 + y) * 3 + x]);
}

}  // namespace
}  // namespace i2i
