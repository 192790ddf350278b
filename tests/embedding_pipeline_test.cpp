// Textual-inversion embeddings end to end (cases/embeddings.json, group embedding_pipelines): the SD 1.5
// case through generate() (names found in the prompt and the negative prompt, files read from the
// embeddings folder, noise replayed) and through the CLI with --embeddings-dir, the parameters text's
// `TI hashes` and --from-png; the ModelSet's cache; bad input as one-line errors naming the file.
#include <gtest/gtest.h>

#include <fstream>

#include "core/error.h"
#include "io/file_hash.h"
#include "io/image.h"
#include "io/parameters.h"
#include "io/safetensors.h"
#include "pipelines/embedding_cache.h"
#include "pipelines/generation.h"
#include "pipelines/img2img.h"
#include "sampling/noise.h"
#include "support/cli_run.h"
#include "support/fixtures.h"
#include "support/generation_cases.h"
#include "support/pipeline_cases.h"

namespace i2i {
namespace {
namespace fs = std::filesystem;

const char* const kIndex = "embeddings.json";
// README "Tolerances": pipelines 1e-3 on the latents (the fixtures' float32 vs float64 rerun: 3.4e-5).
constexpr double kLatentTol = 1e-3;
const char* const kSd15Case = "sd15_ti_inkstyle_neg_tinymark_Euler_a_s0.6";
const char* const kSdxlCase = "sdxl_ti_xlglow_Euler_a_s0.6";

ModelSet& shared_models() {
  return test::shared_tiny_sd15();
}
Tensor ref(const nlohmann::json& r) {
  return test::case_tensor(kIndex, r);
}

std::string embeddings_dir() {
  return (test::models_dir() / "embeddings").string();
}

const nlohmann::json& pipeline_case(const std::string& id) {
  return test::find_index_case(kIndex, "embedding_pipelines", id);
}

GenerationRequest request_for(const nlohmann::json& c) {
  GenerationRequest req = test::generation_request_for_case(c, kIndex);
  req.params.embeddings_dir = embeddings_dir();
  return req;
}

std::string short_hash(const std::string& name) {
  return sha256_file(test::models_dir() / "embeddings" / (name + ".safetensors")).substr(0, 12);
}

std::string param(const std::string& text, const std::string& key) {
  return parse_parameters(text).get(key).value_or("(none)");
}

TEST(EmbeddingPipelines, Sd15MatchesDiffusersThroughGenerate) {
  const auto& c = pipeline_case(kSd15Case);
  GenerationRequest req = request_for(c);
  std::vector<Tensor> steps;
  req.progress = [&](const GenerationProgress& g) {
    steps.push_back(g.latents->clone());
    return true;
  };
  const int64_t reads_before = shared_models().embedding_cache().reads();
  const GenerationResult r = generate(shared_models(), req);
  const Tensor want = ref(c.at("outputs").at("step_latents"));  // [steps, 1, 4, h, w]
  ASSERT_EQ(static_cast<int64_t>(steps.size()), want.dim(0));
  for (int64_t i = 0; i < want.dim(0); ++i)
    EXPECT_TRUE(test::all_close(nhwc_to_nchw(steps[static_cast<size_t>(i)]),
                                want.slice0(i, i + 1).reshape({1, want.dim(2), want.dim(3), want.dim(4)}),
                                kLatentTol, "step " + std::to_string(i)));
  ASSERT_EQ(r.images.size(), 1u);
  test::expect_same_picture(r.images[0].image,
                            read_image(test::case_png(c.at("outputs").at("images_png")[0])), kSd15Case);
  // A1111's TI hashes: the prompt's embeddings, then the negative prompt's (12 hex digits of the SHA-256).
  EXPECT_EQ(param(r.images[0].parameters, "TI hashes"),
            "inkstyle: " + short_hash("inkstyle") + ", tinymark: " + short_hash("tinymark"));
  // Both files were read once; a second request reads nothing.
  const int64_t reads = shared_models().embedding_cache().reads();
  EXPECT_LE(reads - reads_before, 2);
  req.progress = {};
  const GenerationResult again = generate(shared_models(), req);
  EXPECT_EQ(shared_models().embedding_cache().reads(), reads);
  EXPECT_EQ(again.images.at(0).image.pixels, r.images[0].image.pixels);
}

// Without the embeddings the same request makes another picture (the vectors mattered), and a name glued
// to other letters ("tinymarks", A1111's rule) calls no embedding: that run equals the one without a folder.
TEST(EmbeddingPipelines, OnlyNamesStandingApartCallEmbeddings) {
  GenerationRequest req = request_for(pipeline_case(kSd15Case));
  req.replay_noise.clear();
  req.params.steps = 4;
  const GenerationResult with = generate(shared_models(), req);
  GenerationRequest none = req;
  none.params.embeddings_dir = test::temp_dir("embeddings_empty").string();
  const GenerationResult without = generate(shared_models(), none);
  EXPECT_NE(with.images.at(0).image.pixels, without.images.at(0).image.pixels);
  EXPECT_EQ(param(without.images[0].parameters, "TI hashes"), "(none)");

  GenerationRequest glued = req;
  glued.params.prompt = "a photograph of an astronaut riding a horse, inkstyles";
  glued.params.negative_prompt = "tinymarks, blurry";
  GenerationRequest glued_none = glued;
  glued_none.params.embeddings_dir = none.params.embeddings_dir;
  const GenerationResult a = generate(shared_models(), glued);
  EXPECT_EQ(a.images.at(0).image.pixels, generate(shared_models(), glued_none).images.at(0).image.pixels);
  EXPECT_EQ(param(a.images[0].parameters, "TI hashes"), "(none)");
}

TEST(EmbeddingPipelines, Sd15ThroughTheCliAndFromPng) {
  const auto& c = pipeline_case(kSd15Case);
  const auto& prm = c.at("parameters");
  const fs::path dir = test::temp_dir("embedding_cli");
  test::CmdResult r =
      test::run_i2i(test::with(test::fixture_args("img2img", "models/tiny-sd15.safetensors"),
                               {"--init", test::fixture_path(prm.at("image")).string(), "--prompt",
                                prm.at("prompt").get<std::string>(), "--negative-prompt",
                                prm.at("negative_prompt").get<std::string>(), "--strength", "0.6",
                                "--sampler", "Euler a", "--precision", "fp32", "--embeddings-dir",
                                embeddings_dir(), "--infotext-paths", "-o", "out.png"}),
                    dir);
  ASSERT_EQ(r.status, 0) << r.err;
  test::expect_same_picture(dir / "out.png", test::case_png(c.at("outputs").at("images_png")[0]));
  const std::string text = read_png_text(dir / "out.png")["parameters"];
  EXPECT_NE(text.find("TI hashes: \"inkstyle: " + short_hash("inkstyle") +
                      ", tinymark: " + short_hash("tinymark") + "\""),
            std::string::npos)
      << text;
  // --from-png finds the embeddings by name in the folder again.
  test::CmdResult again = test::run_i2i({"img2img", "--from-png", (dir / "out.png").string(), "--tokenizer",
                                         test::fixture_path("tokenizer").string(), "--embeddings-dir",
                                         embeddings_dir(), "--quiet", "--infotext-paths", "-o", "again.png"},
                                        dir);
  ASSERT_EQ(again.status, 0) << again.err;
  EXPECT_EQ(read_image(dir / "out.png").pixels, read_image(dir / "again.png").pixels);
  EXPECT_EQ(read_png_text(dir / "again.png")["parameters"], text);
}

// The bad input: a one-line error naming the file and the problem, non-zero exit, no picture.
TEST(EmbeddingPipelines, BadEmbeddingsAreOneLineErrors) {
  const fs::path dir = test::temp_dir("embedding_bad_input");
  fs::create_directories(dir / "emb");
  std::ofstream(dir / "emb" / "oldstyle.pt") << "\x80\x02}q\x00.";
  write_safetensors(dir / "emb" / "widemark.safetensors", {{"emb_params", test::random_uniform({1, 24}, 1)}});
  fs::copy_file(test::models_dir() / "embeddings" / "xlglow.safetensors", dir / "emb" / "xlglow.safetensors");
  {
    std::ifstream in(test::models_dir() / "embeddings" / "tinymark.safetensors", std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::ofstream(dir / "emb" / "cutmark.safetensors", std::ios::binary)
        .write(bytes.data(), static_cast<long>(bytes.size() / 2));
  }
  struct Case {
    std::string prompt, negative, want;
  };
  const std::vector<Case> cases = {
      {"a cat, oldstyle", "",
       "oldstyle.pt: pickled embedding files are not loaded (unpickling runs code from the "
       "file); convert it to .safetensors"},
      {"a cat", "widemark",
       "widemark.safetensors: embedding vectors are 24 wide, the model's text encoder 16"},
      {"xlglow cat", "",
       "xlglow.safetensors: an SDXL embedding (clip_l 16, clip_g 24) used with an SD 1.x / 2.x "
       "model (one text encoder, 16 wide)"},
      {"cutmark", "", "cutmark.safetensors"},
  };
  for (const Case& k : cases) {
    SCOPED_TRACE(k.prompt);
    GenerationRequest req = request_for(pipeline_case(kSd15Case));
    req.params.prompt = k.prompt;
    req.params.negative_prompt = k.negative;
    req.params.embeddings_dir = (dir / "emb").string();
    const std::string e = test::error_of([&] { generate(shared_models(), req); });
    EXPECT_NE(e.find(k.want), std::string::npos) << e;
    EXPECT_EQ(e.find('\n'), std::string::npos) << e;
    test::CmdResult r =
        test::run_i2i(test::with(test::fixture_args("img2img", "models/tiny-sd15.safetensors"),
                                 {"--prompt", k.prompt, "--negative-prompt", k.negative, "--steps", "2",
                                  "--embeddings-dir", (dir / "emb").string(), "-o", "bad.png"}),
                      dir);
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.err.find(k.want), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(dir / "bad.png"));
  }
  // Files a prompt does not call are never read: the same folder works for other prompts.
  GenerationRequest fine = request_for(pipeline_case(kSd15Case));
  fine.params.prompt = "a cat";
  fine.params.negative_prompt = "";
  fine.params.steps = 2;
  fine.replay_noise.clear();
  fine.params.embeddings_dir = (dir / "emb").string();
  EXPECT_NO_THROW(generate(shared_models(), fine));
}

// SDXL (runs once load_sd_model takes SDXL models): the embedding reaches both text encoders' conditioning
// through the product path (the case's prompt_embeds and negative_prompt_embeds). The end-to-end latents are
// not compared: the reference run used diffusers' pooled vector, which pools at the first added-token id
// (position 5 here), while i2i follows A1111 and pools at the first EOS (position 10; checked against the
// fixtures' pooled_at_first_eos in embedding_prompt_test). Feeding the recorded diffusers pooled vector
// through precomputed conditioning would pin the rest of the pipeline.
TEST(EmbeddingPipelines, SdxlConditioningUsesTheEmbedding) {
  SdModelOptions o;
  o.precision = PrecisionChoice::F32;
  std::unique_ptr<ModelSet> models;
  try {
    models = ModelSet::load(test::models_dir() / "tiny-sdxl", o);
  } catch (const Error& e) {
    if (std::string(e.what()).find("not yet supported") != std::string::npos)
      GTEST_SKIP() << "load_sd_model refuses SDXL: " << e.what();
    throw;
  }
  const auto& c = pipeline_case(kSdxlCase);
  const auto& prm = c.at("parameters");
  Img2ImgRequest req;
  req.init_image = image_to_tensor(to_rgb(read_image(test::fixture_path(prm.at("image")))));
  req.prompt = prm.at("prompt");
  req.negative_prompt = prm.at("negative_prompt");
  req.strength = prm.at("strength");
  req.steps = 2;
  req.cfg_scale = prm.at("guidance_scale");
  req.sampler = c.at("sampler");
  GenerationParams p;
  p.prompt = req.prompt;
  p.negative_prompt = req.negative_prompt;
  p.embeddings_dir = embeddings_dir();
  const RequestEmbeddings e = find_request_embeddings(models->embedding_cache(), models->model(), p);
  ASSERT_EQ(e.embeddings.size(), 1u);
  EXPECT_EQ(e.embeddings[0]->name, "xlglow");
  req.prompt_options.embeddings = e.embeddings;
  std::vector<Tensor> draws;
  for (const auto& d : c.at("noise_draws")) draws.push_back(ref(d));
  ReplayNoise noise(draws);
  const Img2ImgResult r = run_img2img(models->model(), req, {&noise});
  EXPECT_TRUE(test::all_close(r.prompt_embeds, ref(c.at("outputs").at("prompt_embeds")), test::kStageTol,
                              "prompt_embeds"));
  EXPECT_TRUE(test::all_close(r.negative_prompt_embeds, ref(c.at("outputs").at("negative_prompt_embeds")),
                              test::kStageTol, "negative_prompt_embeds"));
}

}  // namespace
}  // namespace i2i
