// SDXL base and refiner img2img / txt2img at the tensor level (run_img2img) against diffusers 0.27.2's
// StableDiffusionXLImg2ImgPipeline / StableDiffusionXLPipeline runs: the cases.json `sdxl_img2img_*`
// pipelines, the size / crop / negative-size / DPM++ 2M Karras / refiner cases of cases/sdxl.json, from the
// seed (the same noise draws), with the pooled embeddings and the time ids fed to the UNet; each model from
// its diffusers folder and its single file.
#include <gtest/gtest.h>

#include <fstream>

#include "core/error.h"
#include "io/image.h"
#include "pipelines/img2img.h"
#include "pipelines/latent_ops.h"
#include "sampling/rng_torch.h"
#include "support/fixtures.h"
#include "support/pipeline_cases.h"

namespace i2i {
namespace {
namespace fs = std::filesystem;

const char* const kIndex = "sdxl.json";

// The model file of a case: its folder, or its fp16 single file (a lossless copy).
std::string model_path(const std::string& model, bool folder) {
  return folder ? model : model + ".fp16.safetensors";
}

Tensor ref(const nlohmann::json& r, const SafeTensors& tensors) {
  return tensors.get(r.at("key").get<std::string>()).to(DType::F32);
}

const nlohmann::json& output(const nlohmann::json& c, const std::string& prefix) {
  for (const auto& [k, v] : c.at("outputs").items())
    if (k.rfind(prefix, 0) == 0) return v;
  throw std::runtime_error("no output " + prefix);
}

XlSize xl_size(const nlohmann::json& v) {
  return {v.at(0).get<int64_t>(), v.at(1).get<int64_t>()};
}

// An sdxl.json case as a request: its parameters in diffusers' names and order ((h, w), (top, left)).
Img2ImgRequest sdxl_request(const nlohmann::json& c) {
  const auto& prm = c.at("parameters");
  Img2ImgRequest req;
  req.init_image =
      image_to_tensor(to_rgb(read_image(test::fixtures_dir() / prm.at("image").get<std::string>())));
  req.prompt = prm.at("prompt");
  req.negative_prompt = prm.at("negative_prompt");
  req.strength = prm.at("strength");
  req.steps = prm.at("num_inference_steps");
  req.cfg_scale = prm.at("guidance_scale");
  req.sampler = c.at("sampler");
  XlConditions& xl = req.xl;
  if (prm.contains("original_size")) xl.original_size = xl_size(prm.at("original_size"));
  if (prm.contains("target_size")) xl.target_size = xl_size(prm.at("target_size"));
  if (prm.contains("crops_coords_top_left")) xl.crops_top_left = xl_size(prm.at("crops_coords_top_left"));
  if (prm.contains("negative_original_size"))
    xl.negative_original_size = xl_size(prm.at("negative_original_size"));
  if (prm.contains("negative_target_size")) xl.negative_target_size = xl_size(prm.at("negative_target_size"));
  if (prm.contains("negative_crops_coords_top_left"))
    xl.negative_crops_top_left = xl_size(prm.at("negative_crops_coords_top_left"));
  if (prm.contains("aesthetic_score")) xl.aesthetic_score = prm.at("aesthetic_score");
  if (prm.contains("negative_aesthetic_score"))
    xl.negative_aesthetic_score = prm.at("negative_aesthetic_score");
  return req;
}

// The pooled embeddings, and the text embeds and time ids as the UNet saw them (when recorded).
void expect_sdxl_conditioning(const Img2ImgResult& r, const nlohmann::json& c, const SafeTensors& tensors) {
  const auto& out = c.at("outputs");
  EXPECT_TRUE(test::all_close(r.pooled_prompt_embeds,
                              ref(out.at("pooled_prompt_embeds"), tensors).slice0(0, 1), test::kStageTol,
                              "pooled_prompt_embeds"));
  if (out.contains("negative_pooled_prompt_embeds")) {
    EXPECT_TRUE(test::all_close(r.negative_pooled_prompt_embeds,
                                ref(out.at("negative_pooled_prompt_embeds"), tensors).slice0(0, 1),
                                test::kStageTol, "negative_pooled_prompt_embeds"));
  }
  for (const auto& [k, v] : out.items()) {
    if (k.rfind("add_time_ids", 0) == 0) {
      EXPECT_TRUE(test::all_close(r.add_time_ids, ref(v, tensors), 0, "add_time_ids"));
    }
  }
}

struct CaseParam {
  std::string id;
  bool folder;
};
std::string case_param_name(const ::testing::TestParamInfo<CaseParam>& info) {
  std::string n = info.param.id + (info.param.folder ? "_folder" : "_single_file");
  for (char& ch : n)
    if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return n;
}

class SdxlCase : public ::testing::TestWithParam<CaseParam> {};

TEST_P(SdxlCase, MatchesDiffusers) {
  const auto& [id, folder] = GetParam();
  const auto& c = test::find_index_case(kIndex, "sdxl_pipelines", id);
  const SdModel& model = test::fixture_model(model_path(c.at("model"), folder));
  TorchCpuGenerator gen(c.at("parameters").at("seed").get<uint64_t>());
  const Img2ImgResult r = run_img2img(model, sdxl_request(c), {&gen});
  const SafeTensors& tensors = test::index_tensors(kIndex);
  test::expect_matches_case(r, c, tensors);
  expect_sdxl_conditioning(r, c, tensors);
  // The text embeds the UNet saw: the pooled ones, CFG-doubled [negative, positive].
  Tensor want = ref(output(c, "add_text_embeds"), tensors);
  EXPECT_TRUE(test::all_close(concat_batch({r.negative_pooled_prompt_embeds, r.pooled_prompt_embeds}), want,
                              test::kStageTol, "add_text_embeds"));
}

INSTANTIATE_TEST_SUITE_P(Fixtures, SdxlCase,
                         ::testing::Values(CaseParam{"sdxl_img2img_sizes_Euler_a_s0.6", false},
                                           CaseParam{"sdxl_img2img_negsizes_Euler_a_s0.6", false},
                                           CaseParam{"sdxl_img2img_DPMpp_2M_Karras_s0.6", true},
                                           CaseParam{"sdxl_refiner_img2img_Euler_s0.3_aes6.0_2.5", true},
                                           CaseParam{"sdxl_refiner_img2img_Euler_s0.3_aes6.0_2.5", false},
                                           CaseParam{"sdxl_refiner_img2img_Euler_a_s0.6_aes7.0_2.0", false}),
                         case_param_name);

// cases.json's SDXL img2img pipelines (requires_aesthetics_score false, time ids [64, 64, 0, 0, 64, 64]).
class SdxlPipelineCase : public ::testing::TestWithParam<CaseParam> {};

TEST_P(SdxlPipelineCase, MatchesDiffusers) {
  const auto& [id, folder] = GetParam();
  const auto& c = test::find_case("pipelines", id);
  const SdModel& model = test::fixture_model(model_path("tiny-sdxl", folder));
  TorchCpuGenerator gen(c.at("parameters").at("seed").get<uint64_t>());
  const Img2ImgResult r = run_img2img(model, test::request_for_case(c), {&gen});
  test::expect_matches_case(r, c);
  expect_sdxl_conditioning(r, c, test::group_file("pipelines"));
  EXPECT_EQ(r.add_time_ids.to_vector(), (std::vector<float>{64, 64, 0, 0, 64, 64, 64, 64, 0, 0, 64, 64}));
}

INSTANTIATE_TEST_SUITE_P(Fixtures, SdxlPipelineCase,
                         ::testing::Values(CaseParam{"sdxl_img2img_Euler_a_s0.6", true},
                                           CaseParam{"sdxl_img2img_Euler_a_s0.6", false},
                                           CaseParam{"sdxl_img2img_Euler_a_s1.0", false}),
                         case_param_name);

// diffusers' force_zeros_for_empty_prompt: the base model conditions an empty negative prompt with zeros
// (embeddings and pooled); the refiner (false in its model_index.json) encodes the empty text.
TEST(SdxlPrompt, EmptyNegativePromptIsZerosForTheBaseOnly) {
  const auto& c = test::find_case("pipelines", "sdxl_img2img_Euler_a_s0.6");
  Img2ImgRequest req = test::request_for_case(c);
  req.negative_prompt = "";
  req.steps = 2;
  req.strength = 0.5;
  TorchCpuGenerator gen(1);
  const Img2ImgResult base = run_img2img(test::fixture_model("tiny-sdxl"), req, {&gen});
  EXPECT_EQ(
      test::max_abs_diff(base.negative_prompt_embeds, Tensor::zeros(base.prompt_embeds.shape())).max_abs, 0);
  EXPECT_EQ(test::max_abs_diff(base.negative_pooled_prompt_embeds, Tensor::zeros({1, 24})).max_abs, 0);
  TorchCpuGenerator gen2(1);
  const Img2ImgResult refiner = run_img2img(test::fixture_model("tiny-sdxl-refiner"), req, {&gen2});
  EXPECT_GT(test::max_abs_diff(refiner.negative_prompt_embeds, Tensor::zeros(refiner.prompt_embeds.shape()))
                .max_abs,
            0.1);
}

// The pipeline flags: model_index.json in the folders, the sidecar (or the family's default) for files.
TEST(SdxlModel, ReadsThePipelineFlags) {
  for (const char* m : {"tiny-sdxl", "tiny-sdxl.fp16.safetensors"}) {
    SCOPED_TRACE(m);
    EXPECT_TRUE(test::fixture_model(m).force_zeros_for_empty_prompt);
    EXPECT_FALSE(test::fixture_model(m).requires_aesthetics_score);
    EXPECT_FALSE(test::fixture_model(m).refiner());
  }
  for (const char* m : {"tiny-sdxl-refiner", "tiny-sdxl-refiner.fp16.safetensors"}) {
    SCOPED_TRACE(m);
    const SdModel& r = test::fixture_model(m);
    EXPECT_FALSE(r.force_zeros_for_empty_prompt);
    EXPECT_TRUE(r.requires_aesthetics_score);
    EXPECT_TRUE(r.refiner());
    EXPECT_FALSE(r.tokenizer.has_value());
    EXPECT_FALSE(r.text_encoder.defined());
    EXPECT_EQ(r.text_encoder_2.config().projection_dim, 24);
  }
}

// A refiner told it needs no aesthetic score: its add_embedding (24 + 5 x 8 inputs) cannot take 6 time ids.
TEST(SdxlModel, TimeIdCountMustFitTheUNet) {
  const fs::path dir = test::temp_dir("sdxl_flags");
  { std::ofstream(dir / "flags.json") << R"({"requires_aesthetics_score": false})"; }
  SdModelOptions o;
  o.tokenizer = test::fixtures_dir() / "tokenizer";
  o.checkpoint.model_config = dir / "flags.json";
  const std::string e = test::error_of([&] { load_sd_model(test::models_dir() / "tiny-sdxl-refiner", o); });
  EXPECT_NE(e.find("add_embedding takes 64 inputs, not 24 pooled + 6 time ids x 8"), std::string::npos) << e;
}

// Guidance 0 or 1: one UNet pass, the negative prompt is not encoded, time ids for one half.
TEST(SdxlPrompt, NoGuidanceRunsOnePass) {
  Img2ImgRequest req = test::request_for_case(test::find_case("pipelines", "sdxl_img2img_Euler_a_s0.6"));
  req.cfg_scale = 1.0;
  TorchCpuGenerator gen(1234);
  const Img2ImgResult r = run_img2img(test::fixture_model("tiny-sdxl"), req, {&gen});
  EXPECT_FALSE(r.negative_prompt_embeds.defined());
  EXPECT_EQ(r.add_time_ids.shape(), (Shape{1, 6}));
}

// A1111 emphasis and long prompts on both encoders: the chunks line up, the pooled embedding is the first
// chunk's, and a weight changes the embedding.
TEST(SdxlPrompt, EmphasisAndChunksOnBothEncoders) {
  const SdModel& m = test::fixture_model("tiny-sdxl");
  XlTextEncoders enc{&*m.tokenizer, &m.text_encoder, &*m.tokenizer_2, &m.text_encoder_2};
  std::string long_prompt;
  for (int i = 0; i < 40; ++i) long_prompt += "red horse, ";
  const XlPromptEmbedding plain = encode_prompt_xl(enc, "a photograph of an astronaut");
  const XlPromptEmbedding longer = encode_prompt_xl(enc, long_prompt);
  EXPECT_EQ(plain.embeds.shape(), (Shape{1, 77, 40}));
  EXPECT_EQ(longer.embeds.shape(), (Shape{1, 154, 40}));
  const XlPromptEmbedding weighted = encode_prompt_xl(enc, "a photograph of an (astronaut:1.5)");
  EXPECT_GT(test::max_abs_diff(weighted.embeds, plain.embeds).max_abs, 1e-3);
  // BREAK starts a new chunk on both encoders; the pooled embedding is the first chunk's.
  const XlPromptEmbedding two = encode_prompt_xl(enc, "a cat BREAK a dog");
  EXPECT_EQ(two.embeds.shape(), (Shape{1, 154, 40}));
  EXPECT_EQ(test::max_abs_diff(two.pooled, encode_prompt_xl(enc, "a cat").pooled).max_abs, 0);
  EXPECT_GT(test::max_abs_diff(two.pooled, encode_prompt_xl(enc, "a dog").pooled).max_abs, 1e-3);
}

// ---- the refiner hand-off (A1111) ------------------------------------------------------------------------

Img2ImgResult run_with_refiner(double switch_at, const SdModel* refiner) {
  Img2ImgRequest req = test::request_for_case(test::find_case("pipelines", "sdxl_img2img_Euler_a_s0.6"));
  req.refiner = refiner;
  req.refiner_switch_at = switch_at;
  TorchCpuGenerator gen(1234);
  return run_img2img(test::fixture_model("tiny-sdxl.fp16.safetensors"), req, {&gen});
}

TEST(SdxlRefiner, HandOffFollowsA1111sSwitchRule) {
  const SdModel& refiner = test::fixture_model("tiny-sdxl-refiner.fp16.safetensors");
  const Img2ImgResult base = run_with_refiner(0.8, nullptr);
  // Switch at 1: A1111's ratio (999 - t) / 1000 never reaches it, the base model runs every step.
  const Img2ImgResult never = run_with_refiner(1.0, &refiner);
  EXPECT_EQ(never.refiner_first_step, -1);
  EXPECT_EQ(test::max_abs_diff(never.latents, base.latents).max_abs, 0);
  EXPECT_EQ(test::max_abs_diff(never.images, base.images).max_abs, 0);
  // Switch at 0: the refiner runs every step: its own img2img run (the two VAEs are the same).
  Img2ImgRequest own = test::request_for_case(test::find_case("pipelines", "sdxl_img2img_Euler_a_s0.6"));
  TorchCpuGenerator gen(1234);
  const Img2ImgResult refined = run_img2img(refiner, own, {&gen});
  const Img2ImgResult all = run_with_refiner(0.0, &refiner);
  EXPECT_EQ(all.refiner_first_step, 0);
  EXPECT_EQ(test::max_abs_diff(all.latents, refined.latents).max_abs, 0);
  EXPECT_EQ(test::max_abs_diff(all.images, refined.images).max_abs, 0);
  // 0.8: steps t = 501, 401, 301, 201, 101, 1 have ratios 0.498 ... 0.998; the refiner takes t = 101 on.
  const Img2ImgResult mid = run_with_refiner(0.8, &refiner);
  EXPECT_EQ(mid.refiner_first_step, 4);
  EXPECT_EQ(mid.step_timesteps, base.step_timesteps);
  for (int i = 0; i < 4; ++i)  // the base model's steps are the base run's
    EXPECT_EQ(test::max_abs_diff(mid.step_latents[i], base.step_latents[i]).max_abs, 0) << i;
  EXPECT_GT(test::max_abs_diff(mid.latents, base.latents).max_abs, 1e-3);
  EXPECT_GT(test::max_abs_diff(mid.latents, refined.latents).max_abs, 1e-3);
  // 0.79: the switch moves one step earlier.
  EXPECT_EQ(run_with_refiner(0.79, &refiner).refiner_first_step, 3);
}

TEST(SdxlRefiner, RefusesWhatCannotTakeOver) {
  const SdModel& base = test::fixture_model("tiny-sdxl.fp16.safetensors");
  const SdModel& sd15 = test::fixture_model("tiny-sd15.safetensors");
  // An SDXL base model (not a refiner) as the refiner.
  std::string e = test::error_of([&] { run_with_refiner(0.5, &base); });
  EXPECT_NE(e.find("must be an SDXL refiner"), std::string::npos) << e;
  e = test::error_of([&] { run_with_refiner(0.5, &sd15); });
  EXPECT_NE(e.find("must be an SDXL refiner"), std::string::npos) << e;
}

}  // namespace
}  // namespace i2i
