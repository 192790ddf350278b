// CLIP text encoder loading and input errors: one-line i2i::Error messages naming the tensor and file.
#include <gtest/gtest.h>

#include <fstream>
#include <functional>

#include "core/error.h"
#include "models/clip_prompt.h"
#include "models/clip_text_loader.h"
#include "support/fixtures.h"

namespace i2i {
namespace {

nlohmann::json sidecar(const std::string& model) {
  std::ifstream in(test::fixtures_dir() / "models" / (model + ".json"));
  return nlohmann::json::parse(in);
}

// Copies the tensors under `prefix` of a fixture checkpoint into a new file, letting `edit` drop (return
// false) or replace entries.
std::filesystem::path edited_copy(const std::string& test, const std::string& model_file,
                                  const std::string& prefix,
                                  const std::function<bool(const std::string&, Tensor&)>& edit) {
  const SafeTensors src = SafeTensors::open(test::fixtures_dir() / "models" / model_file);
  std::vector<std::pair<std::string, Tensor>> kept;
  for (const std::string& name : src.names()) {
    if (name.compare(0, prefix.size(), prefix) != 0) continue;
    Tensor t = src.get(name);
    if (edit(name, t)) kept.emplace_back(name, t);
  }
  const auto path = test::temp_dir("clip_text_" + test) / "edited.safetensors";
  write_safetensors(path, kept);
  return path;
}

// Runs `f`, expecting a one-line i2i::Error that contains every needle.
void expect_error(const std::function<void()>& f, const std::vector<std::string>& needles) {
  try {
    f();
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    for (const std::string& n : needles)
      EXPECT_NE(msg.find(n), std::string::npos) << "'" << msg << "' lacks '" << n << "'";
  }
}

const std::string kSd1 = "cond_stage_model.transformer.";
const std::string kSd2 = "cond_stage_model.model.";

TEST(ClipTextErrors, MissingHuggingFaceTensorIsNamed) {
  const std::string gone = kSd1 + "text_model.encoder.layers.1.mlp.fc2.bias";
  auto path = edited_copy("missing_hf", "tiny-sd15.safetensors", kSd1,
                          [&](const std::string& n, Tensor&) { return n != gone; });
  const auto cfg = sidecar("tiny-sd15");
  expect_error([&] { load_clip_text(SafeTensors::open(path), ClipTextSlot::SD1, &cfg.at("text_encoder")); },
               {path.string(), "missing tensor '" + gone + "'"});
}

TEST(ClipTextErrors, WrongShapeIsNamed) {
  const std::string bad = kSd1 + "text_model.encoder.layers.2.self_attn.k_proj.weight";
  auto path = edited_copy("shape_hf", "tiny-sd15.safetensors", kSd1, [&](const std::string& n, Tensor& t) {
    if (n == bad) t = Tensor::zeros({16, 8});
    return true;
  });
  const auto cfg = sidecar("tiny-sd15");
  expect_error([&] { load_clip_text(SafeTensors::open(path), ClipTextSlot::SD1, &cfg.at("text_encoder")); },
               {path.string(), "'" + bad + "' has shape [16, 8], expected [16, 16]"});
}

TEST(ClipTextErrors, MissingOpenClipTensorIsNamedAsStored) {
  const std::string gone = kSd2 + "transformer.resblocks.1.attn.in_proj_weight";
  auto path = edited_copy("missing_oc", "tiny-sd2v.fp16.safetensors", kSd2,
                          [&](const std::string& n, Tensor&) { return n != gone; });
  const auto cfg = sidecar("tiny-sd2v");
  expect_error([&] { load_clip_text(SafeTensors::open(path), ClipTextSlot::SD2, &cfg.at("text_encoder")); },
               {path.string(), "missing tensor '" + gone + "'"});
}

TEST(ClipTextErrors, WrongOpenClipShapeIsNamedAsStored) {
  const std::string bad = kSd2 + "transformer.resblocks.0.attn.in_proj_bias";
  auto path =
      edited_copy("shape_oc", "tiny-sd2v.fp16.safetensors", kSd2, [&](const std::string& n, Tensor& t) {
        if (n == bad) t = Tensor::zeros({32});
        return true;
      });
  const auto cfg = sidecar("tiny-sd2v");
  expect_error([&] { load_clip_text(SafeTensors::open(path), ClipTextSlot::SD2, &cfg.at("text_encoder")); },
               {path.string(), "'" + bad + "' has shape [32], expected [48]"});
}

TEST(ClipTextErrors, AbsentEncoderIsReported) {
  const auto path = test::fixtures_dir() / "models" / "tiny-sd15.fp16.safetensors";
  expect_error([&] { load_clip_text(SafeTensors::open(path), ClipTextSlot::SDXL2); },
               {path.string(), "no SDXL text encoder 2", "conditioner.embedders.1.model."});
}

TEST(ClipTextErrors, ConfigDisagreeingWithShapesIsReported) {
  const auto path = test::fixtures_dir() / "models" / "tiny-sdxl.fp16.safetensors";
  const auto cfg = sidecar("tiny-sdxl");
  expect_error(
      [&] { load_clip_text(SafeTensors::open(path), ClipTextSlot::SDXL1, &cfg.at("text_encoder_2")); },
      {path.string(), "hidden_size = 24", "weights give 16"});
}

TEST(ClipTextErrors, HeadsNotInferableWithoutConfig) {
  // Without a config the heads default to hidden / 64 (the real models' head size), impossible for hidden 16.
  const auto path = test::fixtures_dir() / "models" / "tiny-sd15.fp16.safetensors";
  expect_error([&] { load_clip_text(SafeTensors::open(path), ClipTextSlot::SD1); },
               {path.string(), "hidden size 16", "num_attention_heads"});
}

TEST(ClipTextErrors, MissingFolderIsNamed) {
  const auto dir = test::temp_dir("clip_text_empty_folder");
  expect_error([&] { load_clip_text_folder(dir); }, {(dir / "config.json").string(), "cannot open"});
}

class ClipTextInputErrors : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto cfg = sidecar("tiny-sd15");
    te_ = load_clip_text(SafeTensors::open(test::fixtures_dir() / "models" / "tiny-sd15.fp16.safetensors"),
                         ClipTextSlot::SD1, &cfg.at("text_encoder"))
              .encoder;
  }
  static Tensor ids(Shape shape, int64_t value) {
    Tensor t = Tensor::empty(shape, DType::I64);
    std::fill(t.data<int64_t>(), t.data<int64_t>() + t.numel(), value);
    return t;
  }
  ClipTextEncoder te_;
};

TEST_F(ClipTextInputErrors, IdOutsideVocabulary) {
  Tensor x = ids({2, 77}, 1);
  x.data<int64_t>()[77 + 5] = 49408;
  expect_error([&] { te_.forward(x); }, {"token id 49408 at [1, 5]", "vocabulary of 49408"});
  x.data<int64_t>()[77 + 5] = -1;
  expect_error([&] { te_.forward(x); }, {"token id -1"});
}

TEST_F(ClipTextInputErrors, TooManyTokensOrWrongType) {
  expect_error([&] { te_.forward(ids({1, 78}, 1)); }, {"78 tokens", "1 to 77"});
  expect_error([&] { te_.forward(Tensor::zeros({1, 77})); }, {"int64 or int32", "F32"});
  expect_error([&] { te_.forward(ids({77}, 1)); }, {"[batch, tokens]"});
}

TEST_F(ClipTextInputErrors, SkipBeyondTheLayers) {
  ClipTextOptions opt;
  opt.skip = 4;
  expect_error([&] { te_.forward(ids({1, 77}, 1), opt); }, {"cannot skip 4 of 3 layers"});
  expect_error([&] { encode_prompt_sd(te_, ids({1, 77}, 1), -1); }, {"clip_skip"});
  // SDXL prompt encoding needs a projection on its second encoder.
  expect_error([&] { encode_prompt_sdxl(te_, ids({1, 77}, 1), te_, ids({1, 77}, 1)); }, {"projection"});
}

}  // namespace
}  // namespace i2i
