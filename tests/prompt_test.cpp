#include <gtest/gtest.h>

#include "core/error.h"
#include "pipelines/generation_params.h"
#include "text/prompt_chunks.h"
#include "text/prompt_parser.h"

namespace i2i {
namespace {

std::vector<std::pair<std::string, float>> flat(const std::string& prompt) {
  std::vector<std::pair<std::string, float>> out;
  for (const auto& w : parse_prompt_weights(prompt)) out.emplace_back(w.text, w.weight);
  return out;
}

void expect_parse(const std::string& prompt, const std::vector<std::pair<std::string, float>>& want) {
  auto got = flat(prompt);
  ASSERT_EQ(got.size(), want.size()) << prompt;
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].first, want[i].first) << prompt << " part " << i;
    EXPECT_NEAR(got[i].second, want[i].second, 1e-6) << prompt << " part " << i;
  }
}

// Expectations are the examples AUTOMATIC1111 documents for its parser.
TEST(PromptParser, PlainTextIsOneRun) {
  expect_parse("normal text", {{"normal text", 1.0f}});
}
TEST(PromptParser, RoundBracketsEmphasise) {
  expect_parse("an (important) word", {{"an ", 1.0f}, {"important", 1.1f}, {" word", 1.0f}});
}
TEST(PromptParser, UnbalancedBracketAppliesToTheRest) {
  expect_parse("(unbalanced", {{"unbalanced", 1.1f}});
}
TEST(PromptParser, EscapedBracketsAreLiteral) {
  expect_parse("\\(literal\\]", {{"(literal]", 1.0f}});
}
TEST(PromptParser, EqualWeightsMerge) {
  expect_parse("(unnecessary)(parens)", {{"unnecessaryparens", 1.1f}});
}
TEST(PromptParser, NestedAndExplicitWeights) {
  expect_parse("a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).", {{"a ", 1.0f},
                                                                       {"house", 1.573f},
                                                                       {" ", 1.1f},
                                                                       {"on", 1.0f},
                                                                       {" a ", 1.1f},
                                                                       {"hill", 0.55f},
                                                                       {", sun, ", 1.1f},
                                                                       {"sky", 1.4641f},
                                                                       {".", 1.1f}});
}
TEST(PromptParser, WeightWithoutBracketIsText) {
  expect_parse("red:1.3) cat", {{"red:1.3) cat", 1.0f}});
}
TEST(PromptParser, EmphasisOff) {
  auto parts = parse_prompt_weights("(red hair:1.3), [blue]", false);
  ASSERT_EQ(parts.size(), 1u);
  EXPECT_EQ(parts[0].text, "(red hair:1.3), [blue]");
  EXPECT_EQ(parts[0].weight, 1.0f);
}
TEST(PromptParser, Break) {
  auto parts = parse_prompt_weights("a cat BREAK a dog BREAKFAST");
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[0].text, "a cat");
  EXPECT_TRUE(parts[1].is_break);
  EXPECT_EQ(parts[2].text, "a dog BREAKFAST");
}
TEST(PromptParser, EmptyPrompt) {
  expect_parse("", {{"", 1.0f}});
}

// A stand-in tokenizer: each space-separated word is one token (its length), a comma token is 267.
std::vector<int> word_tokens(const std::string& s) {
  std::vector<int> out;
  std::string word;
  for (char c : s + " ") {
    if (c == ' ' || c == ',') {
      if (!word.empty()) out.push_back(static_cast<int>(word.size()));
      word.clear();
      if (c == ',') out.push_back(267);
    } else {
      word += c;
    }
  }
  return out;
}

TEST(PromptChunks, ShortPromptMatchesDiffusersFraming) {
  auto chunks = build_prompt_chunks(parse_prompt_weights("aa bbb"), word_tokens);
  ASSERT_EQ(chunks.size(), 1u);
  std::vector<int> want(77, 49407);
  want[0] = 49406;
  want[1] = 2;
  want[2] = 3;
  EXPECT_EQ(chunks[0].ids, want);
  for (float m : chunks[0].multipliers) EXPECT_EQ(m, 1.0f);
  ChunkSpec sd2;
  sd2.pad = 0;
  auto c2 = build_prompt_chunks(parse_prompt_weights("aa bbb"), word_tokens, sd2);
  EXPECT_EQ(c2[0].ids[3], 49407);  // eos right after the tokens, then padding
  EXPECT_EQ(c2[0].ids[4], 0);
}

TEST(PromptChunks, LongPromptSplitsIntoChunksOf75) {
  std::string prompt;
  for (int i = 0; i < 100; ++i) prompt += "ab ";
  auto chunks = build_prompt_chunks(parse_prompt_weights(prompt), word_tokens);
  ASSERT_EQ(chunks.size(), 2u);
  EXPECT_EQ(chunks[0].ids[75], 2);
  EXPECT_EQ(chunks[0].ids[76], 49407);
  EXPECT_EQ(chunks[1].ids[25], 2);
  EXPECT_EQ(chunks[1].ids[26], 49407);
}

TEST(PromptChunks, BacktracksToARecentComma) {
  std::string prompt;
  for (int i = 0; i < 70; ++i) prompt += "ab ";
  prompt += ", ";
  for (int i = 0; i < 10; ++i) prompt += "cde ";
  auto chunks = build_prompt_chunks(parse_prompt_weights(prompt), word_tokens);
  ASSERT_EQ(chunks.size(), 2u);
  EXPECT_EQ(chunks[0].ids[71], 267);  // the chunk ends at the comma
  EXPECT_EQ(chunks[0].ids[72], 49407);
  EXPECT_EQ(chunks[1].ids[1], 3);  // the words after it moved on
}

TEST(PromptChunks, BreakAndWeights) {
  auto chunks = build_prompt_chunks(parse_prompt_weights("(aa:1.5) BREAK bbb"), word_tokens);
  ASSERT_EQ(chunks.size(), 2u);
  EXPECT_EQ(chunks[0].ids[1], 2);
  EXPECT_FLOAT_EQ(chunks[0].multipliers[1], 1.5f);
  EXPECT_EQ(chunks[1].ids[1], 3);
  EXPECT_FLOAT_EQ(chunks[1].multipliers[1], 1.0f);
}

}  // namespace
// Issue 14, item 5: a prompt of 5,000 BREAKs took over a minute to encode; one prompt now takes at most
// kMaxPromptChunks chunks, refused while they are built (before any text-encoder pass).
TEST(PromptChunks, ChunkCountIsBounded) {
  std::string prompt = "aa";
  for (size_t i = 1; i < kMaxPromptChunks; ++i) prompt += " BREAK aa";
  EXPECT_EQ(build_prompt_chunks(parse_prompt_weights(prompt), word_tokens).size(), kMaxPromptChunks);
  for (int i = 0; i < 5000; ++i) prompt += " BREAK aa";
  try {
    build_prompt_chunks(parse_prompt_weights(prompt), word_tokens);
    ADD_FAILURE() << "a prompt of 5000 chunks was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("more than 64 chunks"), std::string::npos) << e.what();
  }
}

// ... and a prompt's text is bounded before it is tokenized (a 1 MB prompt took 20 s and 400 MB).
TEST(PromptChunks, PromptLengthIsBounded) {
  GenerationParams p;
  p.prompt = std::string(kMaxPromptBytes, 'a');
  EXPECT_NO_THROW(p.validate());
  p.negative_prompt = std::string(kMaxPromptBytes + 1, 'a');
  try {
    p.validate();
    ADD_FAILURE() << "an oversized negative prompt was accepted";
  } catch (const ParameterError& e) {
    EXPECT_NE(std::string(e.what()).find("more than the 32768"), std::string::npos) << e.what();
  }
}

}  // namespace i2i
