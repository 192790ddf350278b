// CLIP text encoders against the fixtures' `text_encoders` group: every case, loaded from the single-file
// checkpoints (fp32 and fp16) and from the diffusers folders; and the pipelines' prompt encoding.
#include <gtest/gtest.h>

#include <fstream>

#include "models/clip_prompt.h"
#include "models/clip_text_loader.h"
#include "support/fixtures.h"

namespace i2i {
namespace {

// Tolerance: the fixtures README measures float32 vs float64 at 1.8e-6 for text-encoder states of magnitude
// up to ~7. 1e-4 is ~50x that float32 noise floor, room for a different summation order in our GEMM and
// attention; a real bug (wrong head split, mask, activation, layer) moves values by 1e-2 or more.
constexpr double kAtol = 1e-4;

const std::string kGroup = "text_encoders";

nlohmann::json read_json(const std::filesystem::path& p) {
  std::ifstream in(p);
  return nlohmann::json::parse(in);
}

// One way of loading the encoder of a case.
struct Source {
  std::string case_id;  // "<model>/<component>"
  std::string file;     // single file under models/, or empty for the diffusers folder
  ClipTextSlot slot = ClipTextSlot::SD1;
  int unused_layers = 0;  // expected for this source
};

void PrintTo(const Source& s, std::ostream* os) {
  *os << s.case_id << " from " << (s.file.empty() ? "the diffusers folder" : s.file);
}

std::string model_of(const Source& s) {
  return s.case_id.substr(0, s.case_id.find('/'));
}
std::string component_of(const Source& s) {
  return s.case_id.substr(s.case_id.find('/') + 1);
}

LoadedClipText load(const Source& s) {
  const auto models = test::fixtures_dir() / "models";
  if (s.file.empty()) return load_clip_text_folder(models / model_of(s) / component_of(s));
  const nlohmann::json sidecar = read_json(models / (model_of(s) + ".json"));
  const SafeTensors file = SafeTensors::open(models / s.file);
  return load_clip_text(file, s.slot, &sidecar.at(component_of(s)));
}

std::string source_name(const ::testing::TestParamInfo<Source>& info) {
  std::string n = info.param.case_id + "_" + (info.param.file.empty() ? "folder" : info.param.file);
  for (char& c : n)
    if (!isalnum(static_cast<unsigned char>(c))) c = '_';
  return n;
}

const std::vector<Source> kSources = {
    {"tiny-sd15/text_encoder", "tiny-sd15.safetensors", ClipTextSlot::SD1, 0},
    {"tiny-sd15/text_encoder", "tiny-sd15.fp16.safetensors", ClipTextSlot::SD1, 0},
    // The inpainting checkpoint shares tiny-sd15's text encoder (fixtures README).
    {"tiny-sd15/text_encoder", "tiny-sd15-inpaint.fp16.safetensors", ClipTextSlot::SD1, 0},
    {"tiny-sd15/text_encoder", "", ClipTextSlot::SD1, 0},
    // SD 2.x single file: 4 OpenCLIP blocks stored, the last one unused.
    {"tiny-sd2v/text_encoder", "tiny-sd2v.fp16.safetensors", ClipTextSlot::SD2, 1},
    {"tiny-sd2v/text_encoder", "", ClipTextSlot::SD2, 0},
    {"tiny-sdxl/text_encoder", "tiny-sdxl.fp16.safetensors", ClipTextSlot::SDXL1, 0},
    {"tiny-sdxl/text_encoder", "", ClipTextSlot::SDXL1, 0},
    {"tiny-sdxl/text_encoder_2", "tiny-sdxl.fp16.safetensors", ClipTextSlot::SDXL2, 0},
    {"tiny-sdxl/text_encoder_2", "", ClipTextSlot::SDXL2, 0},
};

class ClipTextReference : public ::testing::TestWithParam<Source> {};

TEST_P(ClipTextReference, MatchesEveryOutput) {
  const Source& s = GetParam();
  const nlohmann::json& c = test::find_case(kGroup, s.case_id);
  const auto& out = c.at("outputs");
  LoadedClipText loaded = load(s);
  const ClipTextEncoder& te = loaded.encoder;
  const Tensor hidden = test::ref_tensor(kGroup, out.at("hidden_states"));
  const int layers = static_cast<int>(hidden.dim(0)) - 1;
  EXPECT_EQ(te.config().num_layers, layers);
  EXPECT_EQ(loaded.unused_layers, s.unused_layers);
  EXPECT_EQ(loaded.stored_layers, layers + s.unused_layers);
  EXPECT_EQ(te.config().projection_dim > 0, out.contains("text_embeds"));

  const Tensor ids = test::ref_tensor(kGroup, c.at("inputs").at("input_ids"));
  ClipTextOptions opt;
  opt.output_hidden_states = true;
  ClipTextOutput r = te.forward(ids, opt);
  ASSERT_EQ(r.hidden_states.size(), static_cast<size_t>(layers + 1));
  for (int i = 0; i <= layers; ++i)
    EXPECT_TRUE(test::all_close(r.hidden_states[static_cast<size_t>(i)], hidden[i], kAtol,
                                "hidden_states[" + std::to_string(i) + "]"));
  EXPECT_TRUE(test::all_close(r.last_hidden_state, test::ref_tensor(kGroup, out.at("last_hidden_state")),
                              kAtol, "last_hidden_state"));
  EXPECT_TRUE(test::all_close(r.skipped, test::ref_tensor(kGroup, out.at("penultimate_hidden_state")), kAtol,
                              "penultimate"));
  EXPECT_TRUE(test::all_close(r.skipped_final_ln,
                              test::ref_tensor(kGroup, out.at("penultimate_final_layer_norm")), kAtol,
                              "penultimate_final_layer_norm"));
  EXPECT_TRUE(
      test::all_close(r.pooled, test::ref_tensor(kGroup, out.at("pooler_output")), kAtol, "pooler_output"));
  if (out.contains("text_embeds"))
    EXPECT_TRUE(test::all_close(r.text_embeds, test::ref_tensor(kGroup, out.at("text_embeds")), kAtol,
                                "text_embeds"));
  else
    EXPECT_FALSE(r.text_embeds.defined());
}

// Every skip depth selects hidden_states[-1 - skip]; without hidden states kept, the results are the same.
TEST_P(ClipTextReference, SkipSelectsEachEarlierLayer) {
  const Source& s = GetParam();
  const nlohmann::json& c = test::find_case(kGroup, s.case_id);
  const ClipTextEncoder te = load(s).encoder;
  const Tensor hidden = test::ref_tensor(kGroup, c.at("outputs").at("hidden_states"));
  const Tensor ids = test::ref_tensor(kGroup, c.at("inputs").at("input_ids"));
  const int layers = te.config().num_layers;
  for (int skip = 0; skip <= layers; ++skip) {
    ClipTextOptions opt;
    opt.skip = skip;
    ClipTextOutput r = te.forward(ids, opt);
    EXPECT_TRUE(r.hidden_states.empty());
    EXPECT_TRUE(test::all_close(r.skipped, hidden[layers - skip], kAtol, "skip " + std::to_string(skip)));
  }
}

INSTANTIATE_TEST_SUITE_P(AllSources, ClipTextReference, ::testing::ValuesIn(kSources), source_name);

TEST(ClipTextLoader, FindsTheTextEncodersOfEachCheckpoint) {
  const auto models = test::fixtures_dir() / "models";
  using V = std::vector<ClipTextSlot>;
  EXPECT_EQ(find_clip_text_slots(SafeTensors::open(models / "tiny-sd15.fp16.safetensors")),
            V{ClipTextSlot::SD1});
  EXPECT_EQ(find_clip_text_slots(SafeTensors::open(models / "tiny-sd2v.fp16.safetensors")),
            V{ClipTextSlot::SD2});
  EXPECT_EQ(find_clip_text_slots(SafeTensors::open(models / "tiny-sdxl.fp16.safetensors")),
            (V{ClipTextSlot::SDXL1, ClipTextSlot::SDXL2}));
  EXPECT_TRUE(find_clip_text_slots(SafeTensors::open(models / "tiny-controlnet-sd15.safetensors")).empty());
}

// Without a config, sizes come from the shapes and heads / activation from the real models' conventions
// (head size 64; quick_gelu for OpenAI CLIP, gelu for OpenCLIP).
TEST(ClipTextConfig, DefaultsFollowTheRealModels) {
  Weights w("synthetic");
  w.add("text_model.embeddings.token_embedding.weight", Tensor::zeros({100, 128}, DType::F16));
  w.add("text_model.embeddings.position_embedding.weight", Tensor::zeros({77, 128}));
  for (int i = 0; i < 2; ++i)
    w.add("text_model.encoder.layers." + std::to_string(i) + ".mlp.fc1.weight", Tensor::zeros({512, 128}));
  w.add("text_projection.weight", Tensor::zeros({32, 128}));
  ClipTextConfig c = infer_clip_text_config(w, nullptr, ClipActivation::Gelu, true);
  EXPECT_EQ(c.vocab_size, 100);
  EXPECT_EQ(c.hidden_size, 128);
  EXPECT_EQ(c.max_positions, 77);
  EXPECT_EQ(c.num_layers, 2);
  EXPECT_EQ(c.intermediate_size, 512);
  EXPECT_EQ(c.num_heads, 2);
  EXPECT_EQ(c.activation, ClipActivation::Gelu);
  EXPECT_EQ(c.projection_dim, 32);
  ClipTextConfig d = infer_clip_text_config(w, nullptr, ClipActivation::QuickGelu, false, 1);
  EXPECT_EQ(d.num_layers, 1);
  EXPECT_EQ(d.activation, ClipActivation::QuickGelu);
  EXPECT_EQ(d.projection_dim, 0);
}

// ---- Prompt encoding (encode_prompt_cases) ----

// Ids [1, 77] for the negative prompt "blurry, low quality", which no text_encoders case tokenizes. Each of
// its words is a single BPE token, looked up in the fixture vocabulary ("blurry</w>", ",</w>", "low</w>",
// "quality</w>"); a wrong id would make the reference comparison below fail, not pass.
Tensor negative_prompt_ids(int64_t pad_id) {
  const nlohmann::json vocab = read_json(test::fixtures_dir() / "tokenizer" / "vocab.json");
  std::vector<int64_t> ids = {49406};
  for (const char* tok : {"blurry</w>", ",</w>", "low</w>", "quality</w>"})
    ids.push_back(vocab.at(tok).get<int64_t>());
  ids.push_back(49407);
  ids.resize(77, pad_id);
  Tensor t = Tensor::empty({1, 77}, DType::I64);
  std::copy(ids.begin(), ids.end(), t.data<int64_t>());
  return t;
}

// The positive prompt is the first prompt of the encoder's text_encoders case, tokenized by that model's
// tokenizer: its ids are row 0 of that case's input_ids.
Tensor positive_prompt_ids(const std::string& case_id, const std::string& prompt) {
  const nlohmann::json& c = test::find_case(kGroup, case_id);
  EXPECT_EQ(c.at("prompts").at(0).get<std::string>(), prompt);
  return test::ref_tensor(kGroup, c.at("inputs").at("input_ids")).slice0(0, 1);
}

const nlohmann::json& prompt_case(const std::string& id) {
  for (const auto& c : test::cases_json().at("groups").at(kGroup).at("encode_prompt_cases"))
    if (c.at("id").get<std::string>() == id) return c;
  throw std::runtime_error("no encode_prompt case " + id);
}

class ClipPromptSd : public ::testing::TestWithParam<std::tuple<std::string, std::string, bool>> {};

TEST_P(ClipPromptSd, MatchesPipelineEmbeddings) {
  const auto& [model, clip_skip, from_folder] = GetParam();
  const nlohmann::json& c = prompt_case(model + "/clip_skip=" + clip_skip);
  const std::string case_id = model + "/text_encoder";
  Source s{case_id, from_folder ? "" : model + ".fp16.safetensors",
           model == "tiny-sd15" ? ClipTextSlot::SD1 : ClipTextSlot::SD2, 0};
  const ClipTextEncoder te = load(s).encoder;
  const int skip = c.at("clip_skip").is_null() ? 0 : c.at("clip_skip").get<int>();
  const int64_t pad = test::find_case(kGroup, case_id).at("pad_token_id").get<int64_t>();
  ASSERT_EQ(c.at("negative_prompt").get<std::string>(), "blurry, low quality");
  // diffusers applies clip_skip to the prompt only; the negative prompt's reference equals its clip_skip=None
  // one.
  SdPromptPair r = encode_prompt_pair_sd(te, positive_prompt_ids(case_id, c.at("prompt")),
                                         negative_prompt_ids(pad), skip, NegativeClipSkip::Diffusers);
  const auto& out = c.at("outputs");
  EXPECT_TRUE(test::all_close(r.prompt_embeds, test::ref_tensor(kGroup, out.at("prompt_embeds")), kAtol,
                              "prompt_embeds"));
  EXPECT_TRUE(test::all_close(r.negative_prompt_embeds,
                              test::ref_tensor(kGroup, out.at("negative_prompt_embeds")), kAtol,
                              "negative_prompt_embeds"));
}

INSTANTIATE_TEST_SUITE_P(AllCases, ClipPromptSd,
                         ::testing::Combine(::testing::Values("tiny-sd15", "tiny-sd2v"),
                                            ::testing::Values("None", "1"), ::testing::Bool()));

class ClipPromptSdxl : public ::testing::TestWithParam<bool> {};

TEST_P(ClipPromptSdxl, MatchesPipelineEmbeddings) {
  const bool from_folder = GetParam();
  const nlohmann::json& c = prompt_case("tiny-sdxl");
  const std::string file = from_folder ? "" : "tiny-sdxl.fp16.safetensors";
  const ClipTextEncoder te1 = load({"tiny-sdxl/text_encoder", file, ClipTextSlot::SDXL1, 0}).encoder;
  const ClipTextEncoder te2 = load({"tiny-sdxl/text_encoder_2", file, ClipTextSlot::SDXL2, 0}).encoder;
  ASSERT_EQ(c.at("negative_prompt").get<std::string>(), "blurry, low quality");
  const int64_t pad1 = test::find_case(kGroup, "tiny-sdxl/text_encoder").at("pad_token_id").get<int64_t>();
  const int64_t pad2 = test::find_case(kGroup, "tiny-sdxl/text_encoder_2").at("pad_token_id").get<int64_t>();
  SdxlPromptPair r =
      encode_prompt_pair_sdxl(te1, te2, positive_prompt_ids("tiny-sdxl/text_encoder", c.at("prompt")),
                              positive_prompt_ids("tiny-sdxl/text_encoder_2", c.at("prompt")),
                              negative_prompt_ids(pad1), negative_prompt_ids(pad2));
  const auto& out = c.at("outputs");
  EXPECT_TRUE(test::all_close(r.prompt.prompt_embeds, test::ref_tensor(kGroup, out.at("prompt_embeds")),
                              kAtol, "prompt_embeds"));
  EXPECT_TRUE(test::all_close(r.prompt.pooled, test::ref_tensor(kGroup, out.at("pooled_prompt_embeds")),
                              kAtol, "pooled_prompt_embeds"));
  EXPECT_TRUE(test::all_close(r.negative.prompt_embeds,
                              test::ref_tensor(kGroup, out.at("negative_prompt_embeds")), kAtol,
                              "negative_prompt_embeds"));
  EXPECT_TRUE(test::all_close(r.negative.pooled,
                              test::ref_tensor(kGroup, out.at("negative_pooled_prompt_embeds")), kAtol,
                              "negative_pooled_prompt_embeds"));
}

INSTANTIATE_TEST_SUITE_P(SingleFileAndFolder, ClipPromptSdxl, ::testing::Bool());

}  // namespace
}  // namespace i2i
