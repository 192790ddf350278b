// ControlNet in the denoising pipeline: the fixtures' StableDiffusionControlNetImg2ImgPipeline runs
// (tiny-sd15 + tiny-controlnet-sd15, Canny control image, scale 0.8) reproduced from the seed, with the
// ControlNet from its diffusers folder and from the original-layout single file; guidance start / end; and
// ControlNet with inpainting and with generation from noise (strength 1).
#include <gtest/gtest.h>

#include "core/error.h"
#include "models/controlnet_load.h"
#include "pipelines/img2img.h"
#include "preprocess/control_image.h"
#include "sampling/rng_torch.h"
#include "support/fixtures.h"
#include "support/pipeline_cases.h"

namespace i2i {
namespace {
namespace fs = std::filesystem;

const ControlNet& controlnet(const std::string& name) {
  static std::map<std::string, std::unique_ptr<ControlNet>> cache;
  auto& slot = cache[name];
  if (!slot)
    slot = std::make_unique<ControlNet>(
        load_controlnet(open_checkpoint(test::fixtures_dir() / "models" / name)));
  return *slot;
}

ControlUnit unit_for_case(const nlohmann::json& c, const std::string& controlnet_name) {
  ControlUnit u;
  u.model = &controlnet(controlnet_name);
  u.name = controlnet_name;
  Image img = read_image(test::fixtures_dir() / "cases" / "inputs" /
                         c.at("input_images").at("control_image").get<std::string>());
  u.image = control_image_tensor(prepare_control_image(img, img.width, img.height));
  u.weight = c.at("parameters").at("controlnet_conditioning_scale");
  return u;
}

Img2ImgResult run(const Img2ImgRequest& req, uint64_t seed = 1234) {
  TorchCpuGenerator gen(seed);
  return run_img2img(test::fixture_model("tiny-sd15.safetensors"), req, {&gen});
}

class ControlNetCase : public ::testing::TestWithParam<std::tuple<std::string, std::string>> {};

TEST_P(ControlNetCase, MatchesDiffusers) {
  const auto& [id, cn] = GetParam();
  SCOPED_TRACE(id + " with " + cn);
  const auto& c = test::find_case("pipelines", id);
  Img2ImgRequest req = test::request_for_case(c);
  req.controls.push_back(unit_for_case(c, cn));
  test::expect_matches_case(run(req), c);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ControlNetCase,
                         ::testing::Combine(::testing::Values("sd15_controlnet_img2img_DDIM_s0.6",
                                                              "sd15_controlnet_img2img_Euler_a_s0.6"),
                                            ::testing::Values("tiny-controlnet-sd15",
                                                              "tiny-controlnet-sd15.safetensors")),
                         [](const auto& info) {
                           std::string n = std::get<0>(info.param) + "_" + std::get<1>(info.param);
                           for (char& ch : n)
                             if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return n;
                         });

const nlohmann::json& ddim_case() {
  return test::find_case("pipelines", "sd15_controlnet_img2img_DDIM_s0.6");
}

double diff(const Img2ImgResult& a, const Img2ImgResult& b) {
  return test::max_abs_diff(a.latents, b.latents).max_abs;
}

TEST(ControlNetPipeline, GuidanceWindowOutsideTheStepsIsLikeNoControlNet) {
  Img2ImgRequest plain = test::request_for_case(ddim_case());
  Img2ImgRequest req = plain;
  req.controls.push_back(unit_for_case(ddim_case(), "tiny-controlnet-sd15"));
  const Img2ImgResult with = run(req), without = run(plain);
  EXPECT_GT(diff(with, without), 1e-2);  // the ControlNet matters
  // Guidance end 0: active for no step (diffusers: (i + 1) / n > end) -> exactly the plain run.
  req.controls[0].guidance_end = 0.0;
  EXPECT_EQ(diff(run(req), without), 0.0);
  // Weight 0 adds zero residuals.
  req.controls[0].guidance_end = 1.0;
  req.controls[0].weight = 0.0;
  EXPECT_EQ(diff(run(req), without), 0.0);
}

TEST(ControlNetPipeline, GuidanceWindowFollowsDiffusersKeep) {
  ControlUnit u;
  u.guidance_start = 0.2;
  u.guidance_end = 0.5;
  // 6 steps: i / 6 >= 0.2 and (i + 1) / 6 <= 0.5 -> steps 2 only.
  std::vector<bool> active;
  for (int i = 0; i < 6; ++i) active.push_back(control_active(u, i, 6));
  EXPECT_EQ(active, (std::vector<bool>{false, false, true, false, false, false}));
  // A late start changes the result, but less than a full window.
  Img2ImgRequest plain = test::request_for_case(ddim_case());
  Img2ImgRequest req = plain;
  req.controls.push_back(unit_for_case(ddim_case(), "tiny-controlnet-sd15"));
  const Img2ImgResult full = run(req), without = run(plain);
  req.controls[0].guidance_start = 0.5;
  const Img2ImgResult late = run(req);
  EXPECT_GT(diff(late, without), 0.0);
  EXPECT_GT(diff(late, full), 0.0);
}

TEST(ControlNetPipeline, TwoUnitsAddTheirResiduals) {
  // Two units of weight 0.4 on the same image equal one of weight 0.8 (the residuals are linear in the
  // weight and summed), to float32 round-off.
  Img2ImgRequest req = test::request_for_case(ddim_case());
  req.controls.push_back(unit_for_case(ddim_case(), "tiny-controlnet-sd15"));
  const Img2ImgResult one = run(req);
  req.controls[0].weight = 0.4;
  req.controls.push_back(req.controls[0]);
  req.controls[1].model = &controlnet("tiny-controlnet-sd15.safetensors");
  EXPECT_LT(diff(run(req), one), test::kLatentTol);
}

TEST(ControlNetPipeline, WorksFromNoiseAndWithInpainting) {
  for (const char* id : {"sd15_inpaint4ch_legacy_DDIM_s1.0", "sd15_img2img_DDIM_s1.0"}) {
    SCOPED_TRACE(id);
    Img2ImgRequest plain = test::request_for_case(test::find_case("pipelines", id));
    Img2ImgRequest req = plain;
    req.controls.push_back(unit_for_case(ddim_case(), "tiny-controlnet-sd15"));
    const Img2ImgResult with = run(req), without = run(plain);
    EXPECT_EQ(with.step_latents.size(), 10u);
    EXPECT_GT(diff(with, without), 1e-2);
  }
  // With the 9-channel inpainting UNet the ControlNet sees the 4 latent channels.
  const auto& c = test::find_case("pipelines", "sd15_inpaint9ch_DDIM_s1.0");
  Img2ImgRequest req = test::request_for_case(c);
  req.controls.push_back(unit_for_case(ddim_case(), "tiny-controlnet-sd15"));
  TorchCpuGenerator gen(1234);
  Img2ImgResult r = run_img2img(test::fixture_model("tiny-sd15-inpaint.fp16.safetensors"), req, {&gen});
  EXPECT_EQ(r.step_latents.size(), 10u);
}

TEST(ControlNetPipeline, RejectsAControlImageOfAnotherSize) {
  Img2ImgRequest req = test::request_for_case(ddim_case());
  req.controls.push_back(unit_for_case(ddim_case(), "tiny-controlnet-sd15"));
  req.controls[0].image = Tensor::zeros({1, 32, 32, 3});
  try {
    run(req);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("control image is 32x32"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace i2i
