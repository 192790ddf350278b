// Textual-inversion embeddings in prompts (cases/embeddings.json, group embedding_prompts): A1111's lookup
// (prompt_embedding.h, text/prompt_chunks.h) puts each embedding's vectors where diffusers' added tokens go,
// so the token positions and prompt embeddings equal diffusers' for every case. SD 1.5 through
// encode_prompt; SDXL through the single-encoder A1111 path run once per encoder (tokenize_prompt ->
// encoder -> apply_emphasis, penultimate states concatenated, pooled from encoder 2's first chunk).
//
// SDXL pooled vector: A1111 pools encoder 2 at the first EOS (its placeholder ids are 0, so the argmax of
// the ids is the EOS); diffusers' added tokens have ids above the EOS, so transformers' argmax pools at the
// first highest embedding token instead (README "embeddings", point 4). i2i follows A1111: the pooled vector
// is compared with the fixtures' `pooled_at_first_eos`, and checked to differ from diffusers' own.
#include <gtest/gtest.h>

#include "core/error.h"
#include "kernels/ops.h"
#include "models/clip_text_loader.h"
#include "models/embedding_file.h"
#include "pipelines/prompt_embedding.h"
#include "support/fixtures.h"
#include "support/pipeline_cases.h"

namespace i2i {
namespace {
namespace fs = std::filesystem;

const char* const kIndex = "embeddings.json";

Tensor ref(const nlohmann::json& r) {
  return test::index_tensors(kIndex).get(r.at("key").get<std::string>()).to(DType::F32);
}

std::shared_ptr<const TextualInversion> embedding(const std::string& name) {
  return std::make_shared<const TextualInversion>(
      read_embedding_file(test::models_dir() / "embeddings" / (name + ".safetensors")));
}

// Every embedding the fixtures made for `model`, in load order (the order of diffusers' token ids).
PromptOptions options_for(const std::string& model) {
  PromptOptions o;
  for (const auto& e : test::index_json(kIndex).at("embeddings"))
    if (e.at("base_model") == model) o.embeddings.push_back(embedding(e.at("name")));
  return o;
}

std::vector<nlohmann::json> cases_of(const std::string& model) {
  std::vector<nlohmann::json> out;
  for (const auto& c : test::index_json(kIndex).at("groups").at("embedding_prompts").at("cases"))
    if (c.at("model") == model) out.push_back(c);
  return out;
}

// Our chunk's ids with each embedding's placeholders replaced by the ids diffusers gave its vectors
// (`diffusers_token_ids` of `tokenizer`: NAME, NAME_1, ...), to compare with the fixtures' input_ids.
std::vector<int64_t> as_diffusers_ids(const PromptTokens& t, const std::string& tokenizer) {
  std::vector<int64_t> ids(t.ids.data<int64_t>(), t.ids.data<int64_t>() + t.ids.dim(1));
  EXPECT_EQ(t.vector_names.size(), t.vectors.size());
  for (size_t k = 0; k < t.vectors.size() && k < t.vector_names.size(); ++k) {
    const auto& v = t.vectors[k];
    const std::string& name = t.vector_names[k];
    EXPECT_EQ(v.batch, 0);
    int64_t first = -1;
    for (const auto& e : test::index_json(kIndex).at("embeddings"))
      if (e.at("name") == name) first = e.at("diffusers_token_ids").at(tokenizer).at(name);
    EXPECT_GE(first, 49408) << name;
    for (int64_t i = 0; i < v.vectors.dim(0); ++i) {
      EXPECT_EQ(ids[static_cast<size_t>(v.position + i)], 0) << "placeholder id at " << v.position + i;
      ids[static_cast<size_t>(v.position + i)] = first + i;
    }
  }
  return ids;
}

std::vector<int64_t> ids_of(const PromptTokens& t) {
  return std::vector<int64_t>(t.ids.data<int64_t>(), t.ids.data<int64_t>() + t.ids.numel());
}

TEST(EmbeddingPrompts, Sd15TokenPositionsAndEmbeddingsMatchDiffusers) {
  const SdModel& m = test::fixture_model("tiny-sd15");
  const PromptOptions o = options_for("tiny-sd15");
  ASSERT_EQ(o.embeddings.size(), 2u);
  const auto cases = cases_of("tiny-sd15");
  ASSERT_EQ(cases.size(), 5u);
  for (const auto& c : cases) {
    SCOPED_TRACE(c.at("id").get<std::string>());
    const std::string prompt = c.at("prompt");
    const PromptTokens t = tokenize_prompt(*m.tokenizer, 16, prompt, o);
    ASSERT_EQ(t.ids.dim(0), 1);
    EXPECT_EQ(as_diffusers_ids(t, "tokenizer"),
              c.at("tokenizers").at("tokenizer").at("input_ids").get<std::vector<int64_t>>());
    const Tensor got = encode_prompt(*m.tokenizer, m.text_encoder, prompt, o);
    EXPECT_TRUE(
        test::all_close(got, ref(c.at("outputs").at("prompt_embeds")), test::kStageTol, "prompt_embeds"));
  }
}

// A1111's rule: a name glued to other letters is another word ("tinymarks" tokenizes as "tiny", "marks</w>",
// not as the name's "tiny", "mark</w>"); diffusers' added-token split would substitute it. Case and
// emphasis do not matter; a name followed by digits or punctuation still matches.
TEST(EmbeddingPrompts, FollowsA1111sLookup) {
  const SdModel& m = test::fixture_model("tiny-sd15");
  const PromptOptions o = options_for("tiny-sd15");
  const auto plain = [&](const std::string& p) {
    return tokenize_prompt(*m.tokenizer, 16, p, PromptOptions{});
  };
  const PromptTokens glued = tokenize_prompt(*m.tokenizer, 16, "a tinymarks cat, inkstyled", o);
  EXPECT_TRUE(glued.vectors.empty());
  EXPECT_TRUE(glued.embeddings_used.empty());
  EXPECT_EQ(ids_of(glued), ids_of(plain("a tinymarks cat, inkstyled")));
  EXPECT_TRUE(embeddings_in_prompt(*m.tokenizer, {"tinymark", "inkstyle"}, "a tinymarks cat, inkstyled", true)
                  .empty());

  const PromptTokens upper = tokenize_prompt(*m.tokenizer, 16, "a TinyMark2 cat", o);
  ASSERT_EQ(upper.vectors.size(), 1u);
  EXPECT_EQ(upper.vectors[0].position, 2);
  EXPECT_EQ(upper.embeddings_used, std::vector<std::string>{"tinymark"});

  // Emphasis applies to the vectors: (inkstyle:1.5) weights its 3 positions.
  const PromptTokens w = tokenize_prompt(*m.tokenizer, 16, "a (inkstyle:1.5) cat", o);
  ASSERT_EQ(w.vectors.size(), 1u);
  EXPECT_EQ(w.vectors[0].position, 2);
  EXPECT_EQ(w.multipliers[0][1], 1.0f);
  for (int i = 2; i < 5; ++i) EXPECT_EQ(w.multipliers[0][static_cast<size_t>(i)], 1.5f);
  EXPECT_EQ(w.multipliers[0][5], 1.0f);
  EXPECT_EQ(embeddings_in_prompt(*m.tokenizer, {"tinymark", "inkstyle"},
                                 "x (inkstyle:1.5), [tinymark] inkstyle", true),
            (std::vector<std::string>{"inkstyle", "tinymark"}));
}

// An embedding never straddles the 75-token chunk boundary: when its vectors do not fit, the chunk ends
// (padded) and the embedding starts the next one.
TEST(EmbeddingPrompts, NeverSplitAcrossChunks) {
  const SdModel& m = test::fixture_model("tiny-sd15");
  const PromptOptions o = options_for("tiny-sd15");
  std::string prompt;
  for (int i = 0; i < 73; ++i) prompt += "cat ";  // 73 tokens: 2 left in the first chunk, inkstyle needs 3
  prompt += "inkstyle dog";
  const PromptTokens t = tokenize_prompt(*m.tokenizer, 16, prompt, o);
  ASSERT_EQ(t.ids.dim(0), 2);
  ASSERT_EQ(t.vectors.size(), 1u);
  EXPECT_EQ(t.vectors[0].batch, 1);
  EXPECT_EQ(t.vectors[0].position, 1);
  const int64_t* first = t.ids.data<int64_t>();
  EXPECT_EQ(first[74], m.tokenizer->eos_id());  // 73 cats, then the eos and padding
  const Tensor z = encode_prompt(*m.tokenizer, m.text_encoder, prompt, o);
  EXPECT_EQ(z.shape(), (Shape{1, 154, 16}));
}

// A1111's comma backtrack moves the words after the last comma into the next chunk: an embedding among
// them moves with its vectors.
TEST(EmbeddingPrompts, CommaBacktrackMovesTheEmbeddingWhole) {
  const SdModel& m = test::fixture_model("tiny-sd15");
  const PromptOptions o = options_for("tiny-sd15");
  std::string prompt;
  for (int i = 0; i < 70; ++i) prompt += "cat ";
  prompt += ", inkstyle dog dog";  // cats 0-69, comma 70, inkstyle 71-73, dog 74: the second dog backtracks
  const PromptTokens t = tokenize_prompt(*m.tokenizer, 16, prompt, o);
  ASSERT_EQ(t.ids.dim(0), 2);
  ASSERT_EQ(t.vectors.size(), 1u);
  EXPECT_EQ(t.vectors[0].batch, 1);
  EXPECT_EQ(t.vectors[0].position, 1);
  const int64_t* second = t.ids.data<int64_t>() + 77;
  const int64_t dog = m.tokenizer->tokenize("dog").at(0);
  EXPECT_EQ(std::vector<int64_t>(second, second + 7),
            (std::vector<int64_t>{m.tokenizer->bos_id(), 0, 0, 0, dog, dog, m.tokenizer->eos_id()}));
  EXPECT_EQ(t.ids.data<int64_t>()[72], m.tokenizer->eos_id());  // bos, 70 cats, the comma, eos
}

// SDXL: each encoder gets its own vectors (clip_l 16 wide, clip_g 24 wide) through the same path.
struct SdxlEncoders {
  ClipTokenizer tok1, tok2;
  LoadedClipText enc1, enc2;
};
const SdxlEncoders& sdxl() {
  static const SdxlEncoders e = [] {
    const fs::path dir = test::models_dir() / "tiny-sdxl";
    return SdxlEncoders{
        ClipTokenizer::load(dir / "tokenizer", ClipTokenizer::options_for_folder(dir / "tokenizer")),
        ClipTokenizer::load(dir / "tokenizer_2", ClipTokenizer::options_for_folder(dir / "tokenizer_2")),
        load_clip_text_folder(dir / "text_encoder"), load_clip_text_folder(dir / "text_encoder_2")};
  }();
  return e;
}

struct EncoderOutput {
  Tensor embeds;  // [1, 77 * chunks, D]: hidden_states[-2], with emphasis
  Tensor pooled;  // encoder 2: text_embeds of the first chunk
};
EncoderOutput encode_sdxl_encoder(const ClipTokenizer& tok, const ClipTextEncoder& enc,
                                  const std::string& prompt, const PromptOptions& o,
                                  const std::string& tokenizer_name, const nlohmann::json& c) {
  const PromptTokens t = tokenize_prompt(tok, enc.config().hidden_size, prompt, o);
  EXPECT_EQ(as_diffusers_ids(t, tokenizer_name),
            c.at("tokenizers").at(tokenizer_name).at("input_ids").get<std::vector<int64_t>>())
      << tokenizer_name;
  ClipTextOptions co;
  co.skip = 1;  // SDXL: the penultimate layer, no final LayerNorm
  co.token_vectors = t.vectors;
  ClipTextOutput out = enc.forward(t.ids, co);
  apply_emphasis(out.skipped, t);
  EncoderOutput r{out.skipped.reshape({1, -1, out.skipped.dim(2)}), Tensor()};
  if (out.text_embeds.defined()) r.pooled = out.text_embeds.slice0(0, 1);
  return r;
}

TEST(EmbeddingPrompts, SdxlPerEncoderMatchesDiffusersAndPoolsAtTheFirstEos) {
  const SdxlEncoders& e = sdxl();
  const PromptOptions o = options_for("tiny-sdxl");
  ASSERT_EQ(o.embeddings.size(), 1u);
  const auto cases = cases_of("tiny-sdxl");
  ASSERT_EQ(cases.size(), 3u);
  for (const auto& c : cases) {
    SCOPED_TRACE(c.at("id").get<std::string>());
    const std::string prompt = c.at("prompt");
    const EncoderOutput a = encode_sdxl_encoder(e.tok1, e.enc1.encoder, prompt, o, "tokenizer", c);
    const EncoderOutput b = encode_sdxl_encoder(e.tok2, e.enc2.encoder, prompt, o, "tokenizer_2", c);
    const auto& out = c.at("outputs");
    EXPECT_TRUE(test::all_close(ops::concat_channels(a.embeds, b.embeds), ref(out.at("prompt_embeds")),
                                test::kStageTol, "prompt_embeds"));
    // A1111's pooled vector (the first EOS), not diffusers' (the first highest added-token id).
    const nlohmann::json* at_eos = nullptr;
    for (const auto& [k, v] : out.items())
      if (k.rfind("pooled_at_first_eos", 0) == 0) at_eos = &v;
    ASSERT_NE(at_eos, nullptr);
    EXPECT_TRUE(test::all_close(b.pooled, ref(*at_eos), test::kStageTol, "pooled (A1111: first EOS)"));
    EXPECT_NE(c.at("pooled_position_diffusers"), c.at("first_eos_position"));
    EXPECT_GT(test::max_abs_diff(b.pooled, ref(out.at("pooled_prompt_embeds"))).max_abs, 1e-2)
        << "diffusers pools elsewhere; the fixture should differ";
  }
}

}  // namespace
}  // namespace i2i
