// LoRAs on the SDXL refiner hand-off (A1111 applies a prompt's LoRAs to whichever model runs and leaves out
// a LoRA that does not fit it, with a warning), and text encoders released between runs
// (SdModelOptions::keep_text_encoders false, as the CLI loads): the same pictures as when they are kept.
// Tiny SDXL base + refiner fixtures; the LoRA that fits both is the text-encoder-2 part of tiny-xl-style
// (the refiner's only text encoder is the base's second one, OpenCLIP bigG-shaped), written to a scratch
// folder; tiny-xl-style itself does not fit the refiner (lora_te1_ keys, base-shaped UNet keys).
#include <gtest/gtest.h>

#include "core/error.h"
#include "io/safetensors.h"
#include "pipelines/generation.h"
#include "pipelines/lora_request.h"
#include "support/fixtures.h"

namespace i2i {
namespace {
namespace fs = std::filesystem;

std::unique_ptr<ModelSet> load_base(bool keep_text_encoders = true) {
  SdModelOptions o;
  o.tokenizer = test::fixtures_dir() / "tokenizer";
  o.precision = PrecisionChoice::F32;
  o.keep_text_encoders = keep_text_encoders;
  return ModelSet::load(test::models_dir() / "tiny-sdxl.fp16.safetensors", o);
}

std::string refiner_path() {
  return (test::models_dir() / "tiny-sdxl-refiner").string();
}

// A folder with te2-only.safetensors (tiny-xl-style's lora_te2_ modules) and tiny-xl-style.safetensors.
fs::path lora_folder() {
  static const fs::path dir = [] {
    const fs::path d = test::temp_dir("refiner_lora");
    const fs::path style = test::models_dir() / "loras" / "tiny-xl-style.safetensors";
    const SafeTensors st = SafeTensors::open(style);
    std::vector<std::pair<std::string, Tensor>> te2;
    for (const std::string& name : st.names())
      if (name.rfind("lora_te2_", 0) == 0) te2.emplace_back(name, st.get(name));
    write_safetensors(d / "te2-only.safetensors", te2, st.metadata());
    fs::copy_file(style, d / "tiny-xl-style.safetensors");
    return d;
  }();
  return dir;
}

GenerationRequest handoff_request(const std::string& lora_tags, double switch_at = 0.5) {
  GenerationRequest req;
  GenerationParams& p = req.params;
  p.init_image = (test::fixtures_dir() / "cases" / "inputs" / "astronaut_64.png").string();
  p.prompt = "a photograph of an astronaut riding a horse" + lora_tags;
  p.negative_prompt = "blurry";
  p.strength = 0.6;
  p.steps = 5;
  p.cfg_scale = 7.5;
  p.seed = 7;
  p.lora_dir = lora_folder().string();
  p.refiner = refiner_path();
  p.refiner_switch_at = switch_at;
  return req;
}

// `file` merged by hand (LoraLayers, as a request's LoRA is) into `model`; the result keeps it merged.
std::unique_ptr<LoraLayers> merge_by_hand(const SdModel& model, const std::string& file, double mult) {
  auto layers = model_lora_layers(const_cast<SdModel&>(model));  // (the ModelSet's own, non-const model)
  layers->apply({{std::make_shared<const LoraFile>(read_lora_file(lora_folder() / file)), mult, mult}});
  return layers;
}

std::vector<uint8_t> pixels(const GenerationResult& r) {
  return r.images.at(0).image.pixels;
}

TEST(RefinerLora, AFittingLoraIsAppliedToTheRefinerToo) {
  const GenerationResult tagged = generate(*load_base(), handoff_request(" <lora:te2-only:0.9>"));
  EXPECT_TRUE(tagged.notices.empty()) << tagged.notices.at(0);
  EXPECT_NE(tagged.images.at(0).parameters.find("Refiner: tiny-sdxl-refiner"), std::string::npos);
  // The same run on models that carry the LoRA merged by hand, the prompt without the tag.
  std::unique_ptr<ModelSet> by_hand = load_base();
  const auto base_lora = merge_by_hand(by_hand->model(), "te2-only.safetensors", 0.9);
  const auto refiner_lora = merge_by_hand(*by_hand->refiner(refiner_path()), "te2-only.safetensors", 0.9);
  EXPECT_GT(refiner_lora->changed_layers(), 0u);
  EXPECT_EQ(pixels(generate(*by_hand, handoff_request(""))), pixels(tagged));
  // ... and not the picture of a refiner without it (what i2i did before).
  std::unique_ptr<ModelSet> base_only = load_base();
  const auto only = merge_by_hand(base_only->model(), "te2-only.safetensors", 0.9);
  EXPECT_NE(pixels(generate(*base_only, handoff_request(""))), pixels(tagged));
}

TEST(RefinerLora, ALoraThatDoesNotFitTheRefinerIsSkippedWithOneLineNotice) {
  std::unique_ptr<ModelSet> models = load_base();
  const GenerationResult tagged = generate(*models, handoff_request(" <lora:tiny-xl-style:0.8>"));
  ASSERT_EQ(tagged.notices.size(), 1u);
  const std::string& n = tagged.notices[0];
  EXPECT_EQ(n.find('\n'), std::string::npos) << n;
  EXPECT_NE(n.find("LoRA tiny-xl-style was not applied to the refiner tiny-sdxl-refiner: "),
            std::string::npos)
      << n;
  EXPECT_NE(n.find("lora_te1_"), std::string::npos) << n;  // the key that matches nothing there
  // The base carries it, the refiner runs as it is.
  std::unique_ptr<ModelSet> by_hand = load_base();
  const auto base_lora = merge_by_hand(by_hand->model(), "tiny-xl-style.safetensors", 0.8);
  EXPECT_EQ(pixels(generate(*by_hand, handoff_request(""))), pixels(tagged));
  // Both at once: the one that fits goes on, the other is skipped; the notice comes with every request.
  const GenerationResult both =
      generate(*models, handoff_request(" <lora:tiny-xl-style:0.8> <lora:te2-only:0.9>"));
  ASSERT_EQ(both.notices.size(), 1u);
  EXPECT_NE(both.notices[0].find("LoRA tiny-xl-style"), std::string::npos);
  EXPECT_NE(pixels(both), pixels(tagged));
  EXPECT_EQ(
      generate(*models, handoff_request(" <lora:tiny-xl-style:0.8> <lora:te2-only:0.9>")).notices.size(), 1u);
  // A refiner that never takes over leaves the picture the base's alone.
  const GenerationResult never = generate(*models, handoff_request(" <lora:tiny-xl-style:0.8>", 1.0));
  GenerationRequest plain = handoff_request(" <lora:tiny-xl-style:0.8>");
  plain.params.refiner.clear();
  EXPECT_EQ(pixels(never), pixels(generate(*models, plain)));
}

TEST(TextEncoderRelease, ReleasedEncodersGiveTheSamePicturesAndComeBackForTheNextRun) {
  std::unique_ptr<ModelSet> kept = load_base(true), released = load_base(false);
  for (const char* tags : {" <lora:te2-only:0.9>", "", " <lora:tiny-xl-style:0.8>"}) {
    GenerationRequest req = handoff_request(tags);
    req.params.batch_count = 2;  // (the second batch encodes again)
    const GenerationResult a = generate(*kept, req), b = generate(*released, req);
    ASSERT_EQ(a.images.size(), 2u);
    ASSERT_EQ(b.images.size(), 2u);
    for (size_t i = 0; i < 2; ++i) EXPECT_EQ(a.images[i].image.pixels, b.images[i].image.pixels) << tags;
    EXPECT_FALSE(kept->model().text_encoders_released);
    EXPECT_TRUE(released->model().text_encoders_released);
    EXPECT_TRUE(released->refiner(refiner_path())->text_encoders_released);
  }
  // A released encoder cannot run by mistake: one line naming the layer.
  const SdModel& m = released->model();
  const std::string e = test::error_of([&] { m.text_encoder.forward(Tensor::zeros({1, 77}, DType::I64)); });
  EXPECT_NE(e.find("prepared weights were released"), std::string::npos) << e;
}

}  // namespace
}  // namespace i2i
