// The CLIP vision encoder (CLIPVisionModelWithProjection) against the fixtures' `image_encoder` group
// (cases/ip_adapter.json), loaded from the h94-layout folder models/tiny-ip-adapter/models/image_encoder
// (float32) and from an fp16 copy (the fixture weights are float16-representable, so it is lossless); the
// bf16 compute precision; and the loader's errors on bad folders and files.
#include "models/clip_vision.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>

#include "core/error.h"
#include "io/config_file.h"
#include "io/safetensors.h"
#include "models/clip_vision_load.h"
#include "support/fixtures.h"
#include "tools/random_checkpoint.h"

namespace i2i {
namespace {

namespace fs = std::filesystem;

const std::string kIndex = "ip_adapter.json";

// The fixtures README measures float32 vs float64 at 4.9e-6 for the image encoder (values up to ~7); 1e-4 is
// its "single stage" acceptance, ~20x that noise floor. A wrong head split, mask, activation or patch order
// moves values by 1e-2 or more.
constexpr double kAtol = 1e-4;

fs::path encoder_dir() {
  return test::fixtures_dir() / "models/tiny-ip-adapter/models/image_encoder";
}

const ClipVisionEncoder& encoder() {
  static const ClipVisionEncoder e = load_clip_vision_folder(encoder_dir());
  return e;
}

const nlohmann::json& cases() {
  return test::index_json(kIndex).at("groups").at("image_encoder").at("cases");
}

Tensor ref(const nlohmann::json& r) {
  return test::index_tensors(kIndex).get(r.at("key").get<std::string>()).to(DType::F32);
}

// The output of a case whose description starts with `prefix` ("hidden_states", "image_embeds (what ...").
const nlohmann::json& output(const nlohmann::json& c, const std::string& prefix) {
  for (const auto& [name, v] : c.at("outputs").items())
    if (name.rfind(prefix, 0) == 0) return v;
  throw std::runtime_error("no output " + prefix);
}

Tensor pixel_values(const nlohmann::json& c) {
  const auto& in = c.at("inputs").at("pixel_values");
  if (!in.contains("key")) return Tensor::zeros({1, 224, 224, 3});  // the "zeros" case
  return nchw_to_nhwc(ref(in));
}

void expect_matches(const ClipVisionEncoder& enc, const nlohmann::json& c, double atol) {
  ClipVisionOptions o;
  o.output_hidden_states = true;
  const ClipVisionOutput out = enc.forward(pixel_values(c), o);
  EXPECT_TRUE(test::all_close(out.embeddings, ref(output(c, "embeddings")), atol, "embeddings"));
  const Tensor hs = ref(output(c, "hidden_states"));
  ASSERT_EQ(static_cast<int64_t>(out.hidden_states.size()), hs.dim(0));
  for (int64_t i = 0; i < hs.dim(0); ++i)
    EXPECT_TRUE(test::all_close(out.hidden_states[static_cast<size_t>(i)], hs[i], atol,
                                "hidden_states[" + std::to_string(i) + "]"));
  EXPECT_TRUE(test::all_close(out.penultimate, ref(output(c, "penultimate")), atol, "penultimate"));
  EXPECT_TRUE(test::all_close(out.last_hidden_state, ref(output(c, "last_hidden_state")), atol, "last"));
  EXPECT_TRUE(test::all_close(out.pooler_output, ref(output(c, "pooler_output")), atol, "pooler_output"));
  EXPECT_TRUE(test::all_close(out.image_embeds, ref(output(c, "image_embeds")), atol, "image_embeds"));
}

TEST(ClipVision, ConfigFromTheFolder) {
  const ClipVisionConfig& c = encoder().config();
  EXPECT_EQ(c.hidden_size, 32);
  EXPECT_EQ(c.intermediate_size, 128);
  EXPECT_EQ(c.num_layers, 3);
  EXPECT_EQ(c.num_heads, 2);
  EXPECT_EQ(c.patch_size, 14);
  EXPECT_EQ(c.image_size, 224);
  EXPECT_EQ(c.num_tokens(), 257);
  EXPECT_EQ(c.projection_dim, 32);
  EXPECT_EQ(c.activation, ClipActivation::Gelu);
  EXPECT_FLOAT_EQ(c.layer_norm_eps, 1e-5f);
  EXPECT_TRUE(encoder().has_projection());
}

TEST(ClipVision, MatchesEveryCase) {
  ASSERT_EQ(cases().size(), 5u);
  for (const auto& c : cases()) {
    SCOPED_TRACE(c.at("id").get<std::string>());
    expect_matches(encoder(), c, kAtol);
  }
}

// Two pictures in one batch give what each gives alone.
TEST(ClipVision, BatchOfTwo) {
  const auto& a = cases().at(0);
  const auto& b = cases().at(3);
  const Tensor pa = pixel_values(a), pb = pixel_values(b);
  Tensor both = Tensor::empty({2, 224, 224, 3});
  std::memcpy(both.data<float>(), pa.data<float>(), pa.nbytes());
  std::memcpy(both.data<float>() + pa.numel(), pb.data<float>(), pb.nbytes());
  const ClipVisionOutput out = encoder().forward(both);
  EXPECT_TRUE(test::all_close(out.image_embeds[0], ref(output(a, "image_embeds"))[0], kAtol, "first"));
  EXPECT_TRUE(test::all_close(out.image_embeds[1], ref(output(b, "image_embeds"))[0], kAtol, "second"));
  EXPECT_TRUE(test::all_close(out.penultimate[1], ref(output(b, "penultimate"))[0], kAtol, "second penult"));
}

// penultimate_only stops before the last layer with the same penultimate state.
TEST(ClipVision, PenultimateOnly) {
  const auto& c = cases().at(0);
  ClipVisionOptions o;
  o.penultimate_only = true;
  const ClipVisionOutput out = encoder().forward(pixel_values(c), o);
  EXPECT_TRUE(test::all_close(out.penultimate, ref(output(c, "penultimate")), kAtol, "penultimate"));
  EXPECT_FALSE(out.last_hidden_state.defined() && out.last_hidden_state.numel() > 0);
  EXPECT_FALSE(out.image_embeds.defined() && out.image_embeds.numel() > 0);
}

// A copy of the fixture folder with its weights stored as `dtype` (config.json as it is).
fs::path converted_copy(const std::string& name, DType dtype, const std::string& file = "model.safetensors") {
  const fs::path dir = test::temp_dir(name);
  fs::copy_file(encoder_dir() / "config.json", dir / "config.json");
  const SafeTensors st = SafeTensors::open(encoder_dir() / "model.safetensors");
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (const std::string& n : st.names()) tensors.emplace_back(n, st.get_f32(n).to(dtype));
  write_safetensors(dir / file, tensors);
  return dir;
}

TEST(ClipVision, Fp16WeightsAreLossless) {
  const fs::path dir = converted_copy("clip_vision_fp16", DType::F16, "model.fp16.safetensors");
  const ClipVisionEncoder e = load_clip_vision_folder(dir);
  for (const auto& c : cases()) {
    SCOPED_TRACE(c.at("id").get<std::string>());
    expect_matches(e, c, kAtol);
  }
}

double relative_error(const Tensor& a, const Tensor& b) {
  double num = 0, den = 0;
  for (int64_t i = 0; i < b.numel(); ++i) {
    const double d = static_cast<double>(a.data<float>()[i]) - b.data<float>()[i];
    num += d * d;
    den += static_cast<double>(b.data<float>()[i]) * b.data<float>()[i];
  }
  return std::sqrt(num / den);
}

// bf16 compute (and bf16-stored weights): bf16 operands cost ~1.6e-3 relative per rounded layer (see
// bf16_quality_test); the path to image_embeds has 1 + 3 * 6 + 1 of them, ~7e-3 in quadrature. Bound 2e-2,
// as for the UNet; a real fault (bf16 accumulation, a wrong kernel) is far above it.
TEST(ClipVision, Bf16StaysCloseToFp32) {
  const fs::path dir = converted_copy("clip_vision_bf16", DType::BF16);
  for (const bool bf16_weights : {false, true}) {
    SCOPED_TRACE(bf16_weights ? "bf16 weights" : "float32 weights");
    const ClipVisionEncoder e = load_clip_vision_folder(bf16_weights ? dir : encoder_dir(), Precision::BF16);
    const auto& c = cases().at(0);
    const ClipVisionOutput out = e.forward(pixel_values(c));
    const double rel = relative_error(out.image_embeds, ref(output(c, "image_embeds")));
    std::printf("bf16 image_embeds relative error: %.3g\n", rel);
    EXPECT_LT(rel, 2e-2);
    EXPECT_GT(rel, 1e-6);
    EXPECT_LT(relative_error(out.penultimate, ref(output(c, "penultimate"))), 2e-2);
  }
}

TEST(ClipVision, RejectsBadPixelValues) {
  const std::string e = test::error_of([] { encoder().forward(Tensor::zeros({1, 3, 224, 224})); });
  EXPECT_NE(e.find("pixel values must be float32 [batch, 224, 224, 3]"), std::string::npos) << e;
}

// The random-weight encoder of `i2i bench` has the layout of a real one: the fixture's names and shapes.
TEST(ClipVision, RandomLayoutIsTheFolderLayout) {
  const SafeTensors st = SafeTensors::open(encoder_dir() / "model.safetensors");
  const std::vector<TensorSpec> specs = clip_vision_layout(encoder().config());
  EXPECT_EQ(specs.size(), st.names().size());
  for (const TensorSpec& s : specs) {
    SCOPED_TRACE(s.name);
    ASSERT_TRUE(st.contains(s.name));
    EXPECT_EQ(st.info(s.name).shape, s.shape);
  }
  const Weights w = random_clip_vision_weights(encoder().config(), DType::F16, 3);
  const nlohmann::json cfg = read_config_json(encoder_dir() / "config.json");
  const ClipVisionEncoder e(w, infer_clip_vision_config(w, &cfg, true));
  EXPECT_EQ(e.config().num_heads, 2);
  // Without a config the heads are hidden / 64: none for a width of 32.
  EXPECT_NE(test::error_of([&] {
              infer_clip_vision_config(w, nullptr, true);
            }).find("random CLIP vision encoder: cannot split hidden size 32 into heads of 64"),
            std::string::npos);
  const ClipVisionOutput out = e.forward(Tensor::zeros({2, 224, 224, 3}));
  EXPECT_EQ(out.image_embeds.shape(), (Shape{2, 32}));
}

// ---- loader errors: one line naming the folder / file and the problem ----

void write_text(const fs::path& p, const std::string& text) {
  std::ofstream(p) << text;
}

TEST(ClipVisionLoad, MissingFolder) {
  const std::string e = test::error_of([] { load_clip_vision_folder("/nonexistent/image_encoder"); });
  EXPECT_NE(e.find("image encoder folder /nonexistent/image_encoder does not exist"), std::string::npos) << e;
}

TEST(ClipVisionLoad, MissingConfig) {
  const fs::path dir = test::temp_dir("clip_vision_noconfig");
  fs::copy_file(encoder_dir() / "model.safetensors", dir / "model.safetensors");
  const std::string e = test::error_of([&] { load_clip_vision_folder(dir); });
  EXPECT_NE(e.find((dir / "config.json").string()), std::string::npos) << e;
}

TEST(ClipVisionLoad, OnlyPytorchBin) {
  const fs::path dir = test::temp_dir("clip_vision_bin");
  fs::copy_file(encoder_dir() / "config.json", dir / "config.json");
  write_text(dir / "pytorch_model.bin", "not read");
  const std::string e = test::error_of([&] { load_clip_vision_folder(dir); });
  EXPECT_NE(e.find("no model.safetensors (pytorch_model.bin is not read"), std::string::npos) << e;
}

TEST(ClipVisionLoad, ConfigDisagreesWithWeights) {
  const fs::path dir = test::temp_dir("clip_vision_badcfg");
  fs::copy_file(encoder_dir() / "model.safetensors", dir / "model.safetensors");
  write_text(
      dir / "config.json",
      R"({"architectures": ["CLIPVisionModelWithProjection"], "hidden_size": 48, "num_attention_heads": 2})");
  std::string e = test::error_of([&] { load_clip_vision_folder(dir); });
  EXPECT_NE(e.find("config says hidden_size = 48 but the weights give 32"), std::string::npos) << e;
  write_text(dir / "config.json", R"({"num_attention_heads": 2, "image_size": 210})");
  e = test::error_of([&] { load_clip_vision_folder(dir); });
  EXPECT_NE(e.find("has 257 positions, but image size 210 in patches of 14 needs 226"), std::string::npos)
      << e;
  write_text(dir / "config.json", R"({"num_attention_heads": 3})");
  e = test::error_of([&] { load_clip_vision_folder(dir); });
  EXPECT_NE(e.find("cannot split hidden size 32 into 3 heads"), std::string::npos) << e;
  write_text(dir / "config.json", R"({"num_attention_heads": 2, "hidden_act": "relu"})");
  e = test::error_of([&] { load_clip_vision_folder(dir); });
  EXPECT_NE(e.find("unsupported CLIP activation 'relu'"), std::string::npos) << e;
}

TEST(ClipVisionLoad, MissingOrMisshapenTensor) {
  const SafeTensors st = SafeTensors::open(encoder_dir() / "model.safetensors");
  for (const std::string drop : {"vision_model.encoder.layers.1.self_attn.k_proj.bias",
                                 "visual_projection.weight", "vision_model.post_layernorm.weight"}) {
    SCOPED_TRACE(drop);
    const fs::path dir = test::temp_dir("clip_vision_missing");
    fs::copy_file(encoder_dir() / "config.json", dir / "config.json");
    std::vector<std::pair<std::string, Tensor>> tensors;
    for (const std::string& n : st.names())
      if (n != drop) tensors.emplace_back(n, st.get(n));
    write_safetensors(dir / "model.safetensors", tensors);
    const std::string e = test::error_of([&] { load_clip_vision_folder(dir); });
    EXPECT_NE(e.find("model.safetensors: missing tensor '" + drop + "'"), std::string::npos) << e;
  }
  const fs::path dir = test::temp_dir("clip_vision_shape");
  fs::copy_file(encoder_dir() / "config.json", dir / "config.json");
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (const std::string& n : st.names())
    tensors.emplace_back(
        n, n == "vision_model.encoder.layers.2.mlp.fc2.weight" ? Tensor::zeros({32, 100}) : st.get(n));
  write_safetensors(dir / "model.safetensors", tensors);
  const std::string e = test::error_of([&] { load_clip_vision_folder(dir); });
  EXPECT_NE(
      e.find("tensor 'vision_model.encoder.layers.2.mlp.fc2.weight' has shape [32, 100], expected [32, 128]"),
      std::string::npos)
      << e;
}

TEST(ClipVisionLoad, TruncatedWeights) {
  const fs::path dir = test::temp_dir("clip_vision_truncated");
  fs::copy_file(encoder_dir() / "config.json", dir / "config.json");
  fs::copy_file(encoder_dir() / "model.safetensors", dir / "model.safetensors");
  fs::resize_file(dir / "model.safetensors", fs::file_size(dir / "model.safetensors") / 2);
  const std::string e = test::error_of([&] { load_clip_vision_folder(dir); });
  EXPECT_NE(e.find((dir / "model.safetensors").string()), std::string::npos) << e;
  EXPECT_EQ(e.find('\n'), std::string::npos) << e;
}

}  // namespace
}  // namespace i2i
