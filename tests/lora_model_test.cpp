// LoRAs merged into a loaded model's prepared layers (models/lora_apply.h, pipelines/lora_request.h
// model_lora_layers): the text encoder and UNet outputs of cases/lora.json (`lora_text_encoders`,
// `lora_unet`), apply -> remove giving the original layers bit for bit (float32 and bf16), and switching
// between LoRA sets without drift.
#include <gtest/gtest.h>

#include <cstring>

#include "core/error.h"
#include "models/lora_apply.h"
#include "pipelines/lora_request.h"
#include "pipelines/prompt_embedding.h"
#include "pipelines/sd_model.h"
#include "support/cli_run.h"
#include "support/fixtures.h"

namespace i2i {
namespace {
namespace fs = std::filesystem;

const char* const kIndex = "lora.json";
// README "Tolerances": single stages about 1e-4 (the fixtures' float32-vs-float64 rerun: 1.8e-6 for the text
// encoders, 6e-6 for the UNets).
constexpr double kStageTol = 1e-4;

Tensor ref(const nlohmann::json& r) {
  return test::index_tensors(kIndex).get(r.at("key").get<std::string>()).to(DType::F32);
}

SdModel load(const std::string& model, PrecisionChoice precision = PrecisionChoice::F32) {
  SdModelOptions o;
  o.tokenizer = test::fixture_path("tokenizer");
  o.precision = precision;
  return load_sd_model(test::models_dir() / model, o);
}

// The SDXL model, or none while load_sd_model refuses SDXL (then the SDXL cases skip).
std::unique_ptr<SdModel> load_sdxl(std::string* why) {
  try {
    return std::make_unique<SdModel>(load("tiny-sdxl.fp16.safetensors"));
  } catch (const Error& e) {
    *why = e.what();
    return nullptr;
  }
}

std::shared_ptr<const LoraFile> lora(const std::string& name) {
  const fs::path dir = test::fixture_path("models/loras");
  return std::make_shared<const LoraFile>(read_lora_file(find_lora(name, dir)));
}

// A model with its LoRA layers, held in place.
struct Loaded {
  SdModel model;
  std::unique_ptr<LoraLayers> layers;
  explicit Loaded(SdModel m) : model(std::move(m)), layers(model_lora_layers(model)) {}
};

std::unique_ptr<Loaded> loaded(const std::string& model, PrecisionChoice p = PrecisionChoice::F32) {
  return std::make_unique<Loaded>(load(model, p));
}

const std::string kPrompt = "a photograph of an astronaut riding a horse, highly detailed";
const std::string kNegative = "blurry, low quality, watermark";

PromptPair encode(const SdModel& m, const std::string& prompt = kPrompt) {
  return encode_prompt_pair(*m.tokenizer, m.text_encoder, prompt, kNegative);
}

TEST(LoraTextEncoders, MatchDiffusersWithTheLoraMerged) {
  auto m = loaded("tiny-sd15.safetensors");
  for (const auto& c : test::index_json(kIndex).at("groups").at("lora_text_encoders").at("cases")) {
    if (c.at("model") != "tiny-sd15") continue;
    m->layers->apply({{lora(c.at("lora")), c.at("te_multiplier").get<double>(), 0.0}});
    const PromptPair p = encode(m->model, c.at("prompt"));
    EXPECT_TRUE(test::all_close(p.cond, ref(c.at("outputs").at("prompt_embeds")), kStageTol, c.at("id")));
    EXPECT_TRUE(
        test::all_close(p.uncond, ref(c.at("outputs").at("negative_prompt_embeds")), kStageTol, c.at("id")));
  }
}

// diffusers' SDXL encode_prompt from the two encoders directly: each encoder's penultimate hidden state
// (no final LayerNorm) concatenated, and the second one's projected pooled output; tokenizer_2 pads with '!'.
struct XlEmbedding {
  Tensor embeds, pooled;
};
[[maybe_unused]] XlEmbedding encode_xl(const ClipTextEncoder& te1, const ClipTextEncoder& te2,
                                       const std::string& text) {
  const fs::path dir = test::models_dir() / "tiny-sdxl";
  static const ClipTokenizer tok1 =
      ClipTokenizer::load(dir / "tokenizer", ClipTokenizer::options_for_folder(dir / "tokenizer"));
  static const ClipTokenizer tok2 =
      ClipTokenizer::load(dir / "tokenizer_2", ClipTokenizer::options_for_folder(dir / "tokenizer_2"));
  auto ids = [&](const ClipTokenizer& t) {
    const std::vector<int> v = fit_to_length(t.encode(text), ClipTokenizer::kContextLength, t.pad_id());
    Tensor out = Tensor::empty({1, static_cast<int64_t>(v.size())}, DType::I64);
    for (size_t i = 0; i < v.size(); ++i) out.data<int64_t>()[i] = v[i];
    return out;
  };
  ClipTextOptions penultimate;
  penultimate.skip = 1;
  const ClipTextOutput a = te1.forward(ids(tok1), penultimate);
  const ClipTextOutput b = te2.forward(ids(tok2), penultimate);
  const int64_t t = a.skipped.dim(1), h1 = a.skipped.dim(2), h2 = b.skipped.dim(2);
  Tensor embeds = Tensor::empty({1, t, h1 + h2});
  for (int64_t i = 0; i < t; ++i) {
    std::memcpy(embeds.data<float>() + i * (h1 + h2), a.skipped.data<float>() + i * h1, h1 * sizeof(float));
    std::memcpy(embeds.data<float>() + i * (h1 + h2) + h1, b.skipped.data<float>() + i * h2,
                h2 * sizeof(float));
  }
  return {embeds, b.text_embeds};
}

// Written against SdModel::text_encoder_2 (SDXL support), so that it runs once SDXL models load.
template <typename Model>
void expect_sdxl_text_encoders(Model& m) {
  if constexpr (requires { m.text_encoder_2.forward(Tensor(), ClipTextOptions()); }) {
    auto layers = model_lora_layers(m);
    const auto& c = test::find_index_case(kIndex, "lora_text_encoders", "tiny-xl-style/te0.8");
    const auto& out = c.at("outputs");
    EXPECT_GT(test::max_abs_diff(encode_xl(m.text_encoder, m.text_encoder_2, c.at("prompt")).embeds,
                                 ref(out.at("prompt_embeds")))
                  .max_abs,
              1e-2);
    layers->apply({{lora("tiny-xl-style"), c.at("te_multiplier").get<double>(), 0.0}});
    const XlEmbedding p = encode_xl(m.text_encoder, m.text_encoder_2, c.at("prompt"));
    const XlEmbedding n = encode_xl(m.text_encoder, m.text_encoder_2, c.at("negative_prompt"));
    EXPECT_TRUE(test::all_close(p.embeds, ref(out.at("prompt_embeds")), kStageTol, "prompt_embeds"));
    EXPECT_TRUE(test::all_close(n.embeds, ref(out.at("negative_prompt_embeds")), kStageTol, "negative"));
    EXPECT_TRUE(test::all_close(p.pooled, ref(out.at("pooled_prompt_embeds")), kStageTol, "pooled"));
    EXPECT_TRUE(test::all_close(n.pooled, ref(out.at("negative_pooled_prompt_embeds")), kStageTol,
                                "negative pooled"));
  } else {
    ADD_FAILURE() << "SDXL loads but SdModel has no text_encoder_2: update this test";
  }
}

TEST(LoraTextEncoders, Sdxl) {
  std::string why;
  auto model = load_sdxl(&why);
  if (!model) GTEST_SKIP() << "SDXL models do not load yet: " << why;
  expect_sdxl_text_encoders(*model);
}

Tensor unet_out(const SdModel& m, const nlohmann::json& c) {
  const auto& in = c.at("inputs");
  return nhwc_to_nchw(m.unet.forward(nchw_to_nhwc(ref(in.at("sample"))), ref(in.at("timestep")).to_vector(),
                                     ref(in.at("encoder_hidden_states"))));
}

TEST(LoraUnet, MatchesDiffusersWithTheLoraMerged) {
  auto m = loaded("tiny-sd15.safetensors");
  int ran = 0;
  for (const auto& c : test::index_json(kIndex).at("groups").at("lora_unet").at("cases")) {
    if (c.at("model") != "tiny-sd15") continue;
    const Tensor want = ref(c.at("outputs").at("sample"));
    m->layers->apply({});
    // Without the LoRA the output is far off: the LoRA is what makes it match.
    EXPECT_GT(test::max_abs_diff(unet_out(m->model, c), want).max_abs, 0.5) << c.at("id");
    m->layers->apply({{lora(c.at("lora")), 0.0, c.at("unet_multiplier").get<double>()}});
    EXPECT_TRUE(test::all_close(unet_out(m->model, c), want, kStageTol, c.at("id")));
    ++ran;
  }
  EXPECT_EQ(ran, 2);  // tiny-style, tiny-locon
}

// The SDXL UNet's output needs its added conditions (UNetConditioning::text_embeds / time_ids, which come
// with SDXL support): written against them so that it runs once SDXL models load.
template <typename Cond = UNetConditioning>
Tensor sdxl_unet_out(const SdModel& m, const nlohmann::json& c) {
  if constexpr (requires(Cond x) {
                  x.text_embeds;
                  x.time_ids;
                }) {
    const auto& in = c.at("inputs");
    Cond cond;
    cond.context = ref(in.at("encoder_hidden_states"));
    cond.text_embeds = ref(in.at("added_cond_kwargs.text_embeds"));
    cond.time_ids = ref(in.at("added_cond_kwargs.time_ids"));
    return nhwc_to_nchw(
        m.unet.forward(nchw_to_nhwc(ref(in.at("sample"))), ref(in.at("timestep")).to_vector(), cond));
  } else {
    ADD_FAILURE() << "SDXL loads but UNetConditioning has no text_embeds / time_ids: update this test";
    return Tensor();
  }
}

TEST(LoraUnet, Sdxl) {
  std::string why;
  auto model = load_sdxl(&why);
  if (!model) GTEST_SKIP() << "SDXL models do not load yet: " << why;
  auto layers = model_lora_layers(*model);
  const auto& c = test::find_index_case(kIndex, "lora_unet", "tiny-xl-style/unet0.8");
  const Tensor want = ref(c.at("outputs").at("sample"));
  EXPECT_GT(test::max_abs_diff(sdxl_unet_out(*model, c), want).max_abs, 0.5);
  layers->apply({{lora("tiny-xl-style"), 0.0, 0.8}});
  EXPECT_TRUE(test::all_close(sdxl_unet_out(*model, c), want, kStageTol, c.at("id")));
}

bool bit_equal(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() && std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0;
}

// What a model computes, for comparing layers bit for bit: the prompt pair and one UNet step.
struct Outputs {
  Tensor cond, uncond, unet;
};
Outputs outputs(const SdModel& m) {
  const auto& c = test::find_index_case(kIndex, "lora_unet", "tiny-locon/unet1.0");
  const PromptPair p = encode(m);
  return {p.cond, p.uncond, unet_out(m, c)};
}
void expect_bit_equal(const Outputs& a, const Outputs& b, const std::string& what) {
  EXPECT_TRUE(bit_equal(a.cond, b.cond)) << what;
  EXPECT_TRUE(bit_equal(a.uncond, b.uncond)) << what;
  EXPECT_TRUE(bit_equal(a.unet, b.unet)) << what;
}

class LoraRemove : public ::testing::TestWithParam<PrecisionChoice> {};

TEST_P(LoraRemove, GivesTheOriginalLayersBitForBit) {
  auto m = loaded("tiny-sd15.fp16.safetensors", GetParam());
  const Outputs original = outputs(m->model);
  m->layers->apply({{lora("tiny-style"), 1.0, 1.0}, {lora("tiny-locon"), 1.0, 0.7}});
  EXPECT_GT(m->layers->changed_layers(), 100u);
  const Outputs with = outputs(m->model);
  EXPECT_GT(test::max_abs_diff(with.cond, original.cond).max_abs, 1e-3);
  EXPECT_GT(test::max_abs_diff(with.unet, original.unet).max_abs, 1e-2);
  m->layers->apply({});
  EXPECT_EQ(m->layers->changed_layers(), 0u);
  expect_bit_equal(outputs(m->model), original, "after remove");
  // Many switches later, each set still gives exactly what it gave the first time (no drift).
  m->layers->apply({{lora("tiny-detail"), 0.5, 0.5}});
  const Outputs detail = outputs(m->model);
  for (int i = 0; i < 3; ++i) {
    m->layers->apply({{lora("tiny-style"), 1.0, 1.0}, {lora("tiny-locon"), 1.0, 0.7}});
    expect_bit_equal(outputs(m->model), with, "style + locon again");
    m->layers->apply({{lora("tiny-detail"), 0.5, 0.5}});
    expect_bit_equal(outputs(m->model), detail, "detail again");
  }
  m->layers->apply({});
  expect_bit_equal(outputs(m->model), original, "after the switches");
}

INSTANTIATE_TEST_SUITE_P(Precisions, LoraRemove,
                         ::testing::Values(PrecisionChoice::F32, PrecisionChoice::BF16),
                         [](const auto& info) {
                           return info.param == PrecisionChoice::F32 ? "fp32" : "bf16";
                         });

TEST(LoraApply, ABadFileLeavesTheModelAsItWas) {
  auto m = loaded("tiny-sd15.safetensors");
  m->layers->apply({{lora("tiny-style"), 1.0, 1.0}});
  const Outputs with = outputs(m->model);
  const size_t changed = m->layers->changed_layers();
  const std::string e = test::error_of([&] {
    m->layers->apply({{lora("tiny-detail"), 1.0, 1.0},
                      {std::make_shared<const LoraFile>(
                           read_lora_file(test::fixture_path("models/loras/tiny-xl-style.safetensors"))),
                       1.0, 1.0}});
  });
  EXPECT_NE(e.find("is an SDXL LoRA, the model is SD 1.x"), std::string::npos) << e;
  EXPECT_EQ(m->layers->changed_layers(), changed);
  expect_bit_equal(outputs(m->model), with, "after the refused set");
}

}  // namespace
}  // namespace i2i
