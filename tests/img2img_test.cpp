// End-to-end img2img against the fixtures' diffusers runs (cases/pipelines): the same seed must give the
// same latents and the same picture.
#include "pipelines/img2img.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "io/image.h"
#include "sampling/rng_torch.h"
#include "support/fixtures.h"
#include "support/pipeline_cases.h"

namespace i2i {
namespace {

void run_case(const std::string& id, const std::string& model_file) {
  SCOPED_TRACE(id + " with " + model_file);
  const auto& c = test::find_case("pipelines", id);
  Img2ImgRequest req = test::request_for_case(c);
  TorchCpuGenerator gen(c.at("parameters").at("seed").get<uint64_t>());
  Img2ImgResult r = run_img2img(test::fixture_model(model_file), req, {&gen});
  test::expect_matches_case(r, c);
}

class Img2ImgCase : public ::testing::TestWithParam<std::string> {};

TEST_P(Img2ImgCase, MatchesDiffusersFromSingleFile) {
  run_case(GetParam(), "tiny-sd15.safetensors");
}

INSTANTIATE_TEST_SUITE_P(
    Sd15, Img2ImgCase,
    ::testing::Values("sd15_img2img_DDIM_s0.3", "sd15_img2img_DDIM_s0.6", "sd15_img2img_DDIM_s1.0",
                      "sd15_img2img_Euler_a_s0.3", "sd15_img2img_Euler_a_s0.6", "sd15_img2img_Euler_a_s1.0",
                      "sd15_img2img_DPMpp_2M_Karras_s0.3", "sd15_img2img_DPMpp_2M_Karras_s0.6",
                      "sd15_img2img_DPMpp_2M_Karras_s1.0", "sd15_img2img_Euler_s0.3",
                      "sd15_img2img_Euler_s0.6", "sd15_img2img_Euler_s1.0", "sd15_img2img_Euler_s0.6_cfg1",
                      "sd15_img2img_Euler_a_s0.6_batch2"),
    [](const auto& info) {
      std::string n = info.param;
      for (char& ch : n)
        if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
      return n;
    });

TEST(Img2Img, Sd15FromDiffusersFolder) {
  run_case("sd15_img2img_Euler_a_s0.6", "tiny-sd15");
}
TEST(Img2Img, Sd15FromFp16File) {
  run_case("sd15_img2img_DDIM_s0.6", "tiny-sd15.fp16.safetensors");
}
TEST(Img2Img, Sd2VPredictionStrength06) {
  run_case("sd2v_img2img_Euler_s0.6", "tiny-sd2v.fp16.safetensors");
}
TEST(Img2Img, Sd2VPredictionStrength1) {
  run_case("sd2v_img2img_Euler_s1.0", "tiny-sd2v");
}

}  // namespace
}  // namespace i2i

namespace i2i {
namespace {

// Precomputed prompt embeddings (Img2ImgRequest::prompt_embeds): the fixture's own embeddings given
// instead of the text reproduce the text run bit for bit (same UNet inputs), and bad shapes are errors.
TEST(Img2Img, PrecomputedPromptEmbeddings) {
  const auto& c = test::find_case("pipelines", "sd15_img2img_Euler_a_s0.6");
  const auto& prm = c.at("parameters");
  Img2ImgRequest req = test::request_for_case(c);
  const SdModel& m = test::fixture_model("tiny-sd15.safetensors");
  TorchCpuGenerator gen1(prm.at("seed").get<uint64_t>());
  Img2ImgResult text_run = run_img2img(m, req, {&gen1});

  Img2ImgRequest pre = req;
  pre.prompt = "something else entirely";  // ignored when embeddings are given
  pre.negative_prompt = "ignored too";
  pre.prompt_embeds = text_run.prompt_embeds;
  pre.negative_prompt_embeds = text_run.negative_prompt_embeds;
  TorchCpuGenerator gen2(prm.at("seed").get<uint64_t>());
  Img2ImgResult embed_run = run_img2img(m, pre, {&gen2});
  EXPECT_EQ(test::max_abs_diff(embed_run.latents, text_run.latents).max_abs, 0.0);
  EXPECT_EQ(test::max_abs_diff(embed_run.images, text_run.images).max_abs, 0.0);

  // Guidance on but no negative embeddings; wrong width; different lengths.
  Img2ImgRequest bad = pre;
  bad.negative_prompt_embeds = Tensor();
  EXPECT_THROW(run_img2img(m, bad, {&gen2}), Error);
  bad = pre;
  bad.prompt_embeds = Tensor::zeros({1, 77, text_run.prompt_embeds.dim(2) + 1});
  EXPECT_THROW(run_img2img(m, bad, {&gen2}), Error);
  bad = pre;
  bad.negative_prompt_embeds = Tensor::zeros({1, 154, text_run.prompt_embeds.dim(2)});
  EXPECT_THROW(run_img2img(m, bad, {&gen2}), Error);
}

}  // namespace
}  // namespace i2i
