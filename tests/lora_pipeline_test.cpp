// LoRAs through generate() and the CLI (pipelines/lora_request.h): every SD 1.5 `lora_pipelines` case of
// cases/lora.json from its A1111 prompt with the <lora:...> tags (looked up in the fixtures' LoRA folder),
// step by step against diffusers 0.27.2 with the recorded noise; one ModelSet switching LoRA sets between
// requests; txt2img and inpaint; --lora FILE[:MULT]; the parameters text (the prompt as typed, Lora
// hashes) and --from-png; bad input as one-line errors.
#include <gtest/gtest.h>

#include "core/error.h"
#include "io/image.h"
#include "io/parameters.h"
#include "io/safetensors.h"
#include "pipelines/generation.h"
#include "pipelines/lora_request.h"
#include "support/cli_run.h"
#include "support/fixtures.h"
#include "support/generation_cases.h"

namespace i2i {
namespace {
namespace fs = std::filesystem;

const char* const kIndex = "lora.json";
// README "Tolerances": pipelines 1e-3 on the latents (the fixtures' float32-vs-float64 rerun: 5.2e-5).
constexpr double kLatentTol = 1e-3;

std::unique_ptr<ModelSet> load_models(const std::string& model = "models/tiny-sd15.safetensors") {
  return test::load_fixture_models(model);
}
ModelSet& shared_models() {
  return test::shared_tiny_sd15();
}
Tensor ref(const nlohmann::json& r) {
  return test::case_tensor(kIndex, r);
}

std::string lora_dir() {
  return test::fixture_path("models/loras").string();
}

// The case as A1111 would be asked: its prompt with the tags, the LoRA folder, the recorded noise.
GenerationRequest request_for(const nlohmann::json& c) {
  GenerationRequest req = test::generation_request_for_case(c, kIndex, "prompt_a1111");
  req.params.lora_dir = lora_dir();
  return req;
}

void expect_matches(const GenerationRequest& request, const nlohmann::json& c, ModelSet& models) {
  GenerationRequest req = request;
  std::vector<Tensor> steps;
  req.progress = [&](const GenerationProgress& g) {
    steps.push_back(g.latents->clone());
    return true;
  };
  const GenerationResult r = generate(models, req);
  const Tensor want = ref(c.at("outputs").at("step_latents"));  // [steps, 1, 4, h, w]
  ASSERT_EQ(static_cast<int64_t>(steps.size()), want.dim(0));
  for (int64_t i = 0; i < want.dim(0); ++i)
    EXPECT_TRUE(
        test::all_close(nhwc_to_nchw(steps[static_cast<size_t>(i)]),
                        want.slice0(i, i + 1).reshape({want.dim(1), want.dim(2), want.dim(3), want.dim(4)}),
                        kLatentTol, c.at("id").get<std::string>() + " step " + std::to_string(i)));
  ASSERT_EQ(r.images.size(), 1u);
  test::expect_same_picture(r.images[0].image,
                            read_image(test::case_png(c.at("outputs").at("images_png")[0])), c.at("id"));
}

std::vector<std::string> sd15_cases() {
  std::vector<std::string> ids;
  for (const auto& c : test::index_json(kIndex).at("groups").at("lora_pipelines").at("cases"))
    if (c.at("model") == "tiny-sd15") ids.push_back(c.at("id"));
  return ids;
}

std::string case_name(const ::testing::TestParamInfo<std::string>& info) {
  std::string n = info.param;
  for (char& ch : n)
    if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return n;
}

class GenerateLoraCase : public ::testing::TestWithParam<std::string> {};

// (The cases run one after the other on one ModelSet: each switches from the previous case's LoRAs.)
TEST_P(GenerateLoraCase, MatchesDiffusersFromTheA1111Prompt) {
  const auto& c = test::find_index_case(kIndex, "lora_pipelines", GetParam());
  expect_matches(request_for(c), c, shared_models());
}

INSTANTIATE_TEST_SUITE_P(Fixtures, GenerateLoraCase, ::testing::ValuesIn(sd15_cases()), case_name);

TEST(GenerateLora, Sdxl) {
  std::unique_ptr<ModelSet> models;
  try {
    models = load_models("models/tiny-sdxl.fp16.safetensors");
  } catch (const Error& e) {
    GTEST_SKIP() << "SDXL models do not load yet: " << e.what();
  }
  const auto& c = test::find_index_case(kIndex, "lora_pipelines", "sdxl_lora_kohya_m0.8_Euler_a_s0.6");
  expect_matches(request_for(c), c, *models);
}

TEST(GenerateLora, SwitchingSetsBetweenRequestsGivesEachItsResult) {
  std::unique_ptr<ModelSet> models = load_models();
  const auto& a =
      test::find_index_case(kIndex, "lora_pipelines", "sd15_two_loras_style0.8_detail0.5_Euler_s0.6");
  const auto& b = test::find_index_case(kIndex, "lora_pipelines", "sd15_locon_m1.0_Euler_a_s0.6");
  const auto& d = test::find_index_case(kIndex, "lora_pipelines", "sd15_lora_diffusers_m0.8_Euler_a_s0.6");
  for (const auto* c : {&a, &b, &a, &d, &b}) expect_matches(request_for(*c), *c, *models);
  // No LoRA at all afterwards: the model's own picture again, exactly.
  GenerationRequest plain = request_for(a);
  plain.params.prompt = remove_extra_networks(plain.params.prompt);
  const Image after = generate(*models, plain).images.at(0).image;
  const Image fresh = generate(*load_models(), plain).images.at(0).image;
  EXPECT_EQ(after.pixels, fresh.pixels);
}

TEST(GenerateLora, ParametersKeepThePromptAndRecordTheHashes) {
  const auto& c =
      test::find_index_case(kIndex, "lora_pipelines", "sd15_two_loras_style0.8_detail0.5_Euler_s0.6");
  GenerationRequest req = request_for(c);
  req.params.steps = 2;
  const GenerationParameters info = parse_parameters(generate(shared_models(), req).images.at(0).parameters);
  EXPECT_EQ(info.prompt, c.at("parameters").at("prompt_a1111").get<std::string>());
  EXPECT_EQ(info.negative_prompt, c.at("parameters").at("negative_prompt").get<std::string>());
  // A1111's "name: first 12 digits of the addnet hash" (values from Python's hashlib).
  EXPECT_EQ(info.get("Lora hashes"),
            std::optional<std::string>("tiny-style: 56e2a72baa59, tiny-detail: 1c5245986668"));
}

TEST(ExtraNetworkTags, RemovedAsA1111sRegexDoes) {
  std::vector<ExtraNetworkTag> tags;
  EXPECT_EQ(
      remove_extra_networks("a <lora:x:0.5>b<hypernet:h> <lora:y:1:0.2>, c<lo ra:z:1> <:q> <w:>", &tags),
      "a b , c<lo ra:z:1> <:q> <w:>");
  ASSERT_EQ(tags.size(), 3u);
  EXPECT_EQ(tags[0].network, "lora");
  EXPECT_EQ(tags[0].args, (std::vector<std::string>{"x", "0.5"}));
  EXPECT_EQ(tags[1].network, "hypernet");
  EXPECT_EQ(tags[2].args, (std::vector<std::string>{"y", "1", "0.2"}));
  // [^>]+ takes '<' and newlines too.
  tags.clear();
  EXPECT_EQ(remove_extra_networks("<lora:a\n<lora:b:1> tail", &tags), " tail");
  ASSERT_EQ(tags.size(), 1u);
  EXPECT_EQ(tags[0].args, (std::vector<std::string>{"a\n<lora", "b", "1"}));
}

TEST(ExtraNetworkTags, MultipliersAsA1111ReadsThem) {
  GenerationParams p;
  p.lora_dir = lora_dir();
  p.prompt =
      "x <lora:tiny-style> <lora:tiny-detail:0.5> <lora:tiny-locon:0.3:0.9> "
      "<lyco:tiny-style:te=0.2:unet=0.4>";
  const std::vector<RequestLora> l = request_loras(p);
  ASSERT_EQ(l.size(), 4u);
  EXPECT_EQ(l[0].te_multiplier, 1.0);
  EXPECT_EQ(l[0].unet_multiplier, 1.0);
  EXPECT_EQ(l[1].te_multiplier, 0.5);
  EXPECT_EQ(l[1].unet_multiplier, 0.5);
  EXPECT_EQ(l[2].te_multiplier, 0.3);
  EXPECT_EQ(l[2].unet_multiplier, 0.9);
  EXPECT_EQ(l[3].te_multiplier, 0.2);
  EXPECT_EQ(l[3].unet_multiplier, 0.4);
  EXPECT_EQ(l[1].file, fs::path(lora_dir()) / "tiny-detail.safetensors");
  p.prompt = "<lora:tiny-sd15-diffusers:1>";
  EXPECT_EQ(request_loras(p).at(0).file,
            fs::path(lora_dir()) / "tiny-sd15-diffusers/pytorch_lora_weights.safetensors");
  // The negative prompt is not parsed (A1111 parses only the prompt).
  p.prompt = "x";
  p.negative_prompt = "<lora:missing:1>";
  EXPECT_TRUE(request_loras(p).empty());
}

TEST(GenerateLora, WorksForTxt2ImgAndInpaintAndByFile) {
  ModelSet& models = shared_models();
  const auto& c = test::find_index_case(kIndex, "lora_pipelines", "sd15_lora_kohya_m1.0_Euler_a_s0.6");
  GenerationRequest t2i = request_for(c);
  t2i.replay_noise.clear();
  t2i.params.steps = 3;
  t2i.params.init_image.clear();
  t2i.params.width = t2i.params.height = 64;
  GenerationRequest t2i_plain = t2i;
  t2i_plain.params.prompt = remove_extra_networks(t2i.params.prompt);
  const Image with = generate(models, t2i).images.at(0).image;
  EXPECT_NE(with.pixels, generate(models, t2i_plain).images.at(0).image.pixels);
  // --lora FILE:1 is the tag.
  GenerationRequest by_file = t2i_plain;
  by_file.params.loras.push_back({(fs::path(lora_dir()) / "tiny-style.safetensors").string(), 1.0, 1.0});
  const GenerationResult r = generate(models, by_file);
  EXPECT_EQ(r.images.at(0).image.pixels, with.pixels);
  const GenerationParameters info = parse_parameters(r.images[0].parameters);
  EXPECT_EQ(info.prompt, t2i_plain.params.prompt + "<lora:tiny-style:1>");
  EXPECT_EQ(info.get("Lora hashes"), std::optional<std::string>("tiny-style: 56e2a72baa59"));

  GenerationRequest inpaint = request_for(c);
  inpaint.replay_noise.clear();
  inpaint.params.steps = 3;
  inpaint.params.mask = test::fixture_path("cases/inputs/mask_64.png").string();
  GenerationRequest inpaint_plain = inpaint;
  inpaint_plain.params.prompt = remove_extra_networks(inpaint.params.prompt);
  EXPECT_NE(generate(models, inpaint).images.at(0).image.pixels,
            generate(models, inpaint_plain).images.at(0).image.pixels);
}

void expect_one_line_error(const std::function<void()>& f, const std::vector<std::string>& parts) {
  const std::string e = test::error_of(f);
  for (const std::string& part : parts) EXPECT_NE(e.find(part), std::string::npos) << e;
  EXPECT_EQ(e.find('\n'), std::string::npos) << e;
}

TEST(GenerateLora, BadInputIsOneLine) {
  const auto& c = test::find_index_case(kIndex, "lora_pipelines", "sd15_lora_kohya_m1.0_Euler_a_s0.6");
  GenerationRequest req = request_for(c);
  req.params.prompt = "a horse <lora:missing:1>";
  expect_one_line_error([&] { generate(shared_models(), req); }, {"'missing'", lora_dir()});
  req.params.prompt = "a horse <lora:tiny-xl-style:1>";
  expect_one_line_error([&] { generate(shared_models(), req); },
                        {"tiny-xl-style.safetensors is an SDXL LoRA, the model is SD 1.x"});
  req.params.prompt = "a horse <lora:tiny-style:abc>";
  expect_one_line_error([&] { generate(shared_models(), req); }, {"<lora:tiny-style:abc>", "'abc'"});
  req.params.prompt = "a horse";
  req.params.loras.push_back({"/nonexistent/x.safetensors", 1.0, 1.0});
  expect_one_line_error([&] { generate(shared_models(), req); }, {"/nonexistent/x.safetensors"});
}

// The CLI: the A1111 prompt with --lora-dir gives the fixture pictures, and --from-png makes them again.
TEST(LoraCli, ReproducesTheFixturePicturesAndRerunsFromPng) {
  for (const std::string id : {"sd15_lora_kohya_te0.3_unet0.9_DDIM_s0.6", "sd15_locon_m1.0_Euler_a_s0.6"}) {
    const auto& c = test::find_index_case(kIndex, "lora_pipelines", id);
    const fs::path dir =
        test::temp_dir(std::string("lora_cli_") + (c.at("sampler") == "DDIM" ? "ddim" : "eulera"));
    const auto args =
        test::with(test::fixture_args("img2img", "models/tiny-sd15.safetensors"),
                   {"--init", test::fixture_path(c.at("parameters").at("image")).string(), "--prompt",
                    c.at("parameters").at("prompt_a1111"), "--strength", "0.6", "--sampler", c.at("sampler"),
                    "--lora-dir", lora_dir(), "--precision", "fp32", "-o", "out.png"});
    test::CmdResult r = test::run_i2i(args, dir);
    ASSERT_EQ(r.status, 0) << r.err;
    const fs::path want = test::case_png(c.at("outputs").at("images_png")[0]);
    test::expect_same_picture(dir / "out.png", want);
    const std::string text = read_png_text(dir / "out.png")["parameters"];
    EXPECT_EQ(parse_parameters(text).prompt, c.at("parameters").at("prompt_a1111").get<std::string>());
    test::CmdResult again = test::run_i2i(
        {"img2img", "--from-png", (dir / "out.png").string(), "--model",
         test::fixture_path("models/tiny-sd15.safetensors").string(), "--init",
         test::fixture_path(c.at("parameters").at("image")).string(), "--tokenizer",
         test::fixture_path("tokenizer").string(), "--lora-dir", lora_dir(), "--quiet", "-o", "again.png"},
        dir);
    ASSERT_EQ(again.status, 0) << again.err;
    test::expect_same_picture(dir / "again.png", want);
  }
}

TEST(LoraCli, LoraFlagAndBadInput) {
  const fs::path dir = test::temp_dir("lora_cli_flag");
  const auto& c = test::find_index_case(kIndex, "lora_pipelines", "sd15_lora_kohya_m1.0_Euler_a_s0.6");
  const auto base = test::with(test::fixture_args("img2img", "models/tiny-sd15.safetensors"),
                               {"--init", test::fixture_path(c.at("parameters").at("image")).string(),
                                "--strength", "0.6", "--sampler", "Euler a", "--precision", "fp32"});
  test::CmdResult r = test::run_i2i(
      test::with(base, {"--lora", (fs::path(lora_dir()) / "tiny-style.safetensors").string() + ":1", "-o",
                        "flag.png"}),
      dir);
  ASSERT_EQ(r.status, 0) << r.err;
  test::expect_same_picture(dir / "flag.png", test::case_png(c.at("outputs").at("images_png")[0]));

  r = test::run_i2i(
      test::with(base, {"--prompt", "a horse <lora:missing:1>", "--lora-dir", lora_dir(), "-o", "x.png"}),
      dir);
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("'missing'"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir / "x.png"));
  r = test::run_i2i(test::with(base, {"--prompt", "a horse <lora:tiny-xl-style:1>", "--lora-dir", lora_dir(),
                                      "-o", "x.png"}),
                    dir);
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("is an SDXL LoRA, the model is SD 1.x"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir / "x.png"));
  // A multiplier that is no finite number, or a third one, is named as such (not as a missing file); a huge
  // one in a tag is out of range.
  const std::string style = (fs::path(lora_dir()) / "tiny-style.safetensors").string();
  for (const auto& [flag, says] : std::vector<std::pair<std::string, std::string>>{
           {style + ":nan", "the multiplier 'nan' is not a finite number"},
           {style + ":1e999", "the multiplier '1e999' is not a finite number"},
           {style + ":", "the multiplier '' is not a finite number"},
           {style + ":1:2:3", "more than two multipliers"}}) {
    r = test::run_i2i(test::with(base, {"--lora", flag, "-o", "x.png"}), dir);
    EXPECT_NE(r.status, 0) << flag;
    EXPECT_NE(r.err.find(says), std::string::npos) << r.err;
  }
  r = test::run_i2i(test::with(base, {"--prompt", "a horse <lora:tiny-style:1e30>", "--lora-dir", lora_dir(),
                                      "-o", "x.png"}),
                    dir);
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("out of range"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir / "x.png"));
}

}  // namespace
}  // namespace i2i
