// Inpainting against the fixtures' diffusers runs: the 9-channel inpainting UNet (tiny-sd15-inpaint) and the
// 4-channel "legacy" latent blending (tiny-sd15), DDIM at strength 1 and Euler a at 0.75, reproduced from the
// seed (which checks diffusers' order of noise draws, different for each of these paths).
#include <gtest/gtest.h>

#include "core/error.h"
#include "pipelines/img2img.h"
#include "sampling/rng_torch.h"
#include "support/fixtures.h"
#include "support/pipeline_cases.h"

namespace i2i {
namespace {

Img2ImgResult run_case(const std::string& id, const std::string& model_file) {
  const auto& c = test::find_case("pipelines", id);
  Img2ImgRequest req = test::request_for_case(c);
  TorchCpuGenerator gen(c.at("parameters").at("seed").get<uint64_t>());
  return run_img2img(test::fixture_model(model_file), req, {&gen});
}

void check_case(const std::string& id, const std::string& model_file) {
  SCOPED_TRACE(id + " with " + model_file);
  test::expect_matches_case(run_case(id, model_file), test::find_case("pipelines", id));
}

TEST(Inpaint, NineChannelDdimStrength1) {
  check_case("sd15_inpaint9ch_DDIM_s1.0", "tiny-sd15-inpaint.fp16.safetensors");
}
TEST(Inpaint, NineChannelEulerAStrength075) {
  check_case("sd15_inpaint9ch_Euler_a_s0.75", "tiny-sd15-inpaint.fp16.safetensors");
}
TEST(Inpaint, LegacyFourChannelDdimStrength1) {
  check_case("sd15_inpaint4ch_legacy_DDIM_s1.0", "tiny-sd15.safetensors");
}
TEST(Inpaint, LegacyFourChannelEulerAStrength075) {
  check_case("sd15_inpaint4ch_legacy_Euler_a_s0.75", "tiny-sd15.safetensors");
}

}  // namespace
}  // namespace i2i
