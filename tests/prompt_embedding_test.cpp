// Prompt text -> UNet conditioning with A1111's syntax, on the tiny SD 1.5 text encoder.
#include "pipelines/prompt_embedding.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "pipelines/sd_model.h"
#include "support/fixtures.h"

namespace i2i {
namespace {

const SdModel& model() {
  static SdModel m = [] {
    SdModelOptions o;
    o.tokenizer = test::fixtures_dir() / "tokenizer";
    o.precision = PrecisionChoice::F32;
    return load_sd_model(test::fixtures_dir() / "models" / "tiny-sd15.safetensors", o);
  }();
  return m;
}

Tensor encode(const std::string& prompt, PromptOptions o = {}) {
  return encode_prompt(*model().tokenizer, model().text_encoder, prompt, o);
}

double mean(const Tensor& t) {
  double s = 0;
  for (float v : t.to_vector()) s += v;
  return s / static_cast<double>(t.numel());
}

const std::string kPrompt = "a photograph of an astronaut riding a horse, highly detailed";

TEST(PromptEmbedding, PlainPromptIsDiffusers) {
  const auto& c = test::find_case("pipelines", "sd15_img2img_Euler_s0.6");
  Tensor want = test::ref_tensor("pipelines", c.at("outputs").at("prompt_embeds")).to(DType::F32);
  EXPECT_TRUE(test::all_close(encode(kPrompt), want, 1e-4, "plain prompt"));
  // Weight 1 and the brackets of an explicit 1.0 weight change nothing.
  EXPECT_EQ(test::max_abs_diff(encode("a photograph of an (astronaut:1.0) riding a horse, highly detailed"),
                               encode(kPrompt))
                .max_abs,
            0.0);
}

TEST(PromptEmbedding, EmphasisScalesTokensAndKeepsTheMean) {
  Tensor plain = encode(kPrompt);
  Tensor weighted = encode("a photograph of an (astronaut:1.5) riding a horse, highly detailed");
  EXPECT_GT(test::max_abs_diff(plain, weighted).max_abs, 1e-2);
  EXPECT_NEAR(mean(weighted), mean(plain), 1e-5);
  // Only the emphasised token's row changes direction; bos (row 0) is scaled by the mean correction only.
  PromptOptions literal;
  literal.emphasis = false;
  Tensor lit = encode("a photograph of an (astronaut:1.5) riding a horse, highly detailed", literal);
  EXPECT_GT(test::max_abs_diff(lit, weighted).max_abs, 1e-2);  // brackets read as text
}

TEST(PromptEmbedding, LongPromptsAreChunked) {
  std::string long_prompt;
  for (int i = 0; i < 40; ++i) long_prompt += "red house, ";
  Tensor z = encode(long_prompt);
  EXPECT_EQ(z.dim(1), 77 * 2);
  Tensor brk = encode("a cat BREAK a dog");
  EXPECT_EQ(brk.dim(1), 77 * 2);
  // Each chunk is encoded on its own: the second chunk of "a cat BREAK a dog" is "a dog" alone.
  Tensor dog = encode("a dog");
  Tensor second = brk.reshape({2, 77, -1}).slice0(1, 2);
  EXPECT_TRUE(test::all_close(second, dog, 1e-6, "second chunk"));
}

TEST(PromptEmbedding, PairIsPaddedToTheSameLength) {
  std::string long_prompt;
  for (int i = 0; i < 40; ++i) long_prompt += "red house, ";
  PromptPair p = encode_prompt_pair(*model().tokenizer, model().text_encoder, long_prompt, "blurry");
  EXPECT_EQ(p.cond.dim(1), p.uncond.dim(1));
  Tensor empty = encode("");
  EXPECT_TRUE(test::all_close(p.uncond.reshape({2, 77, -1}).slice0(1, 2), empty, 1e-6, "padding chunk"));
}

TEST(PromptEmbedding, ClipSkip) {
  PromptOptions skip2;
  skip2.clip_skip = 2;
  EXPECT_GT(test::max_abs_diff(encode(kPrompt, skip2), encode(kPrompt)).max_abs, 1e-2);
  PromptOptions too_deep;
  too_deep.clip_skip = 5;
  EXPECT_THROW(encode(kPrompt, too_deep), Error);
}

}  // namespace
}  // namespace i2i
