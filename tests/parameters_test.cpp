// AUTOMATIC1111 infotext: parsing real-looking texts, the exact layout written, and round trips of tricky
// prompts and values.
#include "io/parameters.h"

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <random>

#include "core/error.h"
#include "io/image.h"
#include "support/fixtures.h"

namespace i2i {
namespace {

using Params = std::vector<std::pair<std::string, std::string>>;

TEST(Parameters, ParsesTheA1111Example) {
  const std::string text =
      "girl with an artist's beret, determined, blue eyes, desert scene, ((eyeshadow)), (coquettish), "
      "detailed\n"
      "Negative prompt: ugly, fat, (((deformed))), [blurry], bad anatomy, (extra_limb), messy drawing\n"
      "Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 965400086, Size: 512x512, Model hash: 45dee52b";
  GenerationParameters p = parse_parameters(text);
  EXPECT_EQ(p.prompt,
            "girl with an artist's beret, determined, blue eyes, desert scene, ((eyeshadow)), (coquettish), "
            "detailed");
  EXPECT_EQ(p.negative_prompt,
            "ugly, fat, (((deformed))), [blurry], bad anatomy, (extra_limb), messy drawing");
  EXPECT_EQ(p.params, (Params{{"Steps", "20"},
                              {"Sampler", "Euler a"},
                              {"CFG scale", "7"},
                              {"Seed", "965400086"},
                              {"Size", "512x512"},
                              {"Model hash", "45dee52b"}}));
  EXPECT_EQ(p.get("Sampler"), "Euler a");
  EXPECT_FALSE(p.get("Denoising strength").has_value());
}

TEST(Parameters, FormatsLikeCreateInfotext) {
  GenerationParameters p;
  p.prompt = "a cat";
  p.negative_prompt = "blurry";
  p.params = {{"Steps", "20"},
              {"Sampler", "Euler a"},
              {"CFG scale", "7"},
              {"Seed", "1"},
              {"Size", "512x512"},
              {"Denoising strength", "0.5"},
              {"Lora hashes", "a: 1f2e, b: 3c4d"}};
  EXPECT_EQ(
      format_parameters(p),
      "a cat\nNegative prompt: blurry\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 512x512, "
      "Denoising strength: 0.5, Lora hashes: \"a: 1f2e, b: 3c4d\"");
  p.negative_prompt.clear();  // no "Negative prompt:" line at all
  p.params.resize(3);
  EXPECT_EQ(format_parameters(p), "a cat\nSteps: 20, Sampler: Euler a, CFG scale: 7");
  p.prompt.clear();
  EXPECT_EQ(format_parameters(p), "Steps: 20, Sampler: Euler a, CFG scale: 7");
}

TEST(Parameters, QuotesAsJsonWhenNeeded) {
  EXPECT_EQ(quote_parameter_value("Euler a"), "Euler a");
  EXPECT_EQ(quote_parameter_value("0.5"), "0.5");
  EXPECT_EQ(quote_parameter_value("caf\xc3\xa9"), "caf\xc3\xa9");
  EXPECT_EQ(quote_parameter_value("a, b"), "\"a, b\"");
  EXPECT_EQ(quote_parameter_value("k: v"), "\"k: v\"");
  EXPECT_EQ(quote_parameter_value("two\nlines"), "\"two\\nlines\"");
  EXPECT_EQ(quote_parameter_value("say \"hi\""), "\"say \\\"hi\\\"\"");
  EXPECT_EQ(quote_parameter_value("back\\slash, \xe7\x8c\xab"),
            "\"back\\\\slash, \xe7\x8c\xab\"");  // non-ASCII kept
  EXPECT_EQ(quote_parameter_value("tab\there\x01"), "\"tab\\there\\u0001\"");
  EXPECT_EQ(quote_parameter_value(""), "\"\"");
  EXPECT_EQ(quote_parameter_value(" padded"), "\" padded\"");
}

TEST(Parameters, ReadsQuotedValuesTheWayA1111Does) {
  auto p = parse_parameters(
      "prompt\nSteps: 20, Lora hashes: \"a: 1, b: 2\", Note: \"say \\\"hi\\\", ok\", Seed: 3, "
      "Broken: \"x\" y, Uni: \"\\u00e9\\u732b\"");
  EXPECT_EQ(p.prompt, "prompt");
  EXPECT_EQ(p.get("Lora hashes"), "a: 1, b: 2");
  EXPECT_EQ(p.get("Note"), "say \"hi\", ok");
  EXPECT_EQ(p.get("Seed"), "3");
  // A quoted string not followed by ',' is not a quoted value: the plain alternative takes up to the comma.
  EXPECT_EQ(p.get("Broken"), "\"x\" y");
  EXPECT_EQ(p.get("Uni"), "\xc3\xa9\xe7\x8c\xab");
}

TEST(Parameters, A1111ParsingRules) {
  // Fewer than 3 pairs on the last line: it belongs to the prompt.
  auto p = parse_parameters("a cat\nSteps: 20, Seed: 1");
  EXPECT_EQ(p.prompt, "a cat\nSteps: 20, Seed: 1");
  EXPECT_TRUE(p.params.empty());
  // Bare empty values are skipped (A1111 fails on v[0]); a repeated key keeps its place and takes the last
  // value.
  p = parse_parameters("x\nAa: 1, Empty: , Bb: 2, Aa: 3");
  EXPECT_EQ(p.params, (Params{{"Aa", "3"}, {"Bb", "2"}}));
  // Keys need at least two characters: "A: 1" is not a pair, so this last line has only 2 and is prompt text.
  p = parse_parameters("x\nA: 1, Bb: 2, Cc: 3");
  EXPECT_EQ(p.prompt, "x\nA: 1, Bb: 2, Cc: 3");
  // Lines are stripped; the negative prompt runs to the parameter line.
  p = parse_parameters(
      "  \n  first  \n\tsecond\nNegative prompt:   bad\n more bad \nAa: 1, Bb: 2, Cc: 3\n\n");
  EXPECT_EQ(p.prompt, "first\nsecond");
  EXPECT_EQ(p.negative_prompt, "bad\nmore bad");
  // Keys: a word character then word characters, spaces, '-' or '/'; Unicode letters count as word
  // characters.
  p = parse_parameters("x\nHires upscaler: Latent, ControlNet 0/1-x: on, Größe: 5, é: no");
  EXPECT_EQ(p.params, (Params{{"Hires upscaler", "Latent"}, {"ControlNet 0/1-x", "on"}, {"Größe", "5"}}));
  EXPECT_TRUE(parse_parameters("").prompt.empty());
  EXPECT_THROW(parse_parameters("bad \xff utf-8"), Error);
}

TEST(Parameters, RoundTripsTrickyPromptsAndValues) {
  const std::vector<GenerationParameters> cases = {
      {"a cat, masterpiece, (best quality:1.2), [dog:cat:0.5]",
       "blurry, lowres",
       {{"Steps", "20"}, {"Sampler", "DPM++ 2M Karras"}, {"CFG scale", "7.5"}, {"Seed", "4294967295"}}},
      {"line one\nline two: with colon\n\"quoted\" line, and comma",
       "neg one\nneg two, \"q\"",
       {{"Steps", "10"}, {"Size", "768x512"}, {"Denoising strength", "0.75"}}},
      {"\xe7\x8c\xab\xe3\x81\xae\xe7\xb5\xb5, \xf0\x9f\x90\x88 caf\xc3\xa9",
       "\xe3\x81\xbc\xe3\x82\x84\xe3\x81\x91",
       {{"Steps", "5"}, {"Note", "\xe6\x97\xa5\xe6\x9c\xac: \"\xe8\xaa\x9e\", \\o/"}, {"Seed", "1"}}},
      {"",
       "only negative",
       {{"Steps", "1"}, {"Empty", ""}, {"Spaces", "  padded  "}, {"Newline", "a\nb"}, {"Tab", "a\tb"}}},
      {"no negative",
       "",
       {{"Steps", "20"}, {"Backslash", "C:\\path\\x"}, {"Quote only", "\""}, {"End", "x,"}}},
  };
  for (const auto& want : cases) {
    const std::string text = format_parameters(want);
    GenerationParameters got = parse_parameters(text);
    EXPECT_EQ(got.prompt, want.prompt) << text;
    EXPECT_EQ(got.negative_prompt, want.negative_prompt) << text;
    EXPECT_EQ(got.params, want.params) << text;
    EXPECT_EQ(format_parameters(got), text);
  }
}

TEST(Parameters, RejectsKeysThatCannotBeReadBack) {
  GenerationParameters p{"x", "", {{"Steps", "1"}, {"B", "2"}, {"Cc", "3"}}};
  EXPECT_THROW(format_parameters(p), Error);  // one-character key
  p.params[1].first = "Bad:key";
  EXPECT_THROW(format_parameters(p), Error);
  p.params[1].first = " Lead";
  EXPECT_THROW(format_parameters(p), Error);
  p.params[1].first = "Good key-2/b";
  EXPECT_NO_THROW(format_parameters(p));
  p.params[1].second = "bad \xc3";
  EXPECT_THROW(format_parameters(p), Error);
}

// Whatever the text, parsing never fails on valid UTF-8 and the parsed result formats and re-parses stably.
TEST(Parameters, ArbitraryTextNeverBreaksTheParser) {
  std::mt19937 rng(7);
  const std::vector<std::string> pieces = {"a",
                                           "B",
                                           " ",
                                           ",",
                                           ":",
                                           "\"",
                                           "\\",
                                           "\n",
                                           "Negative prompt:",
                                           "Steps",
                                           ": ",
                                           ", ",
                                           "\xc3\xa9",
                                           "\xe7\x8c\xab",
                                           "-",
                                           "/",
                                           "1",
                                           "\t",
                                           "x y"};
  for (int iter = 0; iter < 2000; ++iter) {
    std::string text;
    const int n = static_cast<int>(rng() % 40);
    for (int i = 0; i < n; ++i) text += pieces[rng() % pieces.size()];
    GenerationParameters p;
    ASSERT_NO_THROW(p = parse_parameters(text)) << text;
    if (p.params.size() < 3) continue;
    GenerationParameters q = parse_parameters(format_parameters(p));
    EXPECT_EQ(q.params, p.params) << text;
  }
}

// Hostile texts (issue 14, item 5) parse in time linear in their size: a long run of key characters
// without a ':' used to be rescanned from every position (a 200 KB line took 33 s), and 80 000 keys were
// looked up one by one (8 s). Both now take milliseconds; the bound leaves room for a loaded machine.
TEST(Parameters, LongHostileTextsParseInLinearTime) {
  const auto seconds = [](const std::function<void()>& f) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  std::string text = "x\n";
  text.append(kMaxParametersBytes - 16, 'a');  // one long line of key characters and no ':'
  GenerationParameters p;
  EXPECT_LT(seconds([&] { p = parse_parameters(text); }), 5.0);
  EXPECT_EQ(p.prompt, text);

  std::string keys = "x\n";
  for (int i = 0; i < 80000; ++i) {
    keys += 'k';
    keys += std::to_string(i);
    keys += ": ";
    keys += std::to_string(i % 7);
    keys += ", ";
  }
  ASSERT_LT(keys.size(), kMaxParametersBytes);
  EXPECT_LT(seconds([&] { p = parse_parameters(keys); }), 5.0);
  ASSERT_EQ(p.params.size(), 80000u);
  EXPECT_EQ(p.params.back().first, "k79999");
  EXPECT_EQ(p.params.back().second, std::to_string(79999 % 7));
}

TEST(Parameters, RefusesTextsPastTheLimit) {
  try {
    parse_parameters(std::string(kMaxParametersBytes + 1, 'a'));
    ADD_FAILURE() << "an oversized parameters text was read";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("more than the"), std::string::npos) << e.what();
  }
}

// The parameters travel in a PNG's "parameters" text chunk (iTXt when the prompt is not Latin-1).
TEST(Parameters, StoredInPngText) {
  auto dir = test::temp_dir("parameters_png");
  GenerationParameters p{"\xe7\x8c\xab, a cat",
                         "blurry",
                         {{"Steps", "20"}, {"Sampler", "Euler a"}, {"CFG scale", "7"}, {"Seed", "1"}}};
  Image img(4, 4, 3);
  write_png(dir / "p.png", img, {{"parameters", format_parameters(p)}});
  GenerationParameters got = parse_parameters(read_png_text(dir / "p.png").at("parameters"));
  EXPECT_EQ(got.prompt, p.prompt);
  EXPECT_EQ(got.negative_prompt, p.negative_prompt);
  EXPECT_EQ(got.params, p.params);
}

}  // namespace
}  // namespace i2i
