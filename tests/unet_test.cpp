// UNet2DCondition against the fixtures' `unet` cases (diffusers 0.27.2, float32), loaded from the diffusers
// folders and from the original-layout single files (fp32 and fp16), plus the loaders' error handling.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <memory>

#include "core/error.h"
#include "io/safetensors.h"
#include "models/ldm_keys.h"
#include "models/model_config.h"
#include "models/unet_load.h"
#include "support/fixtures.h"

namespace i2i {
namespace {

namespace fs = std::filesystem;

// Tolerance: the fixtures' float32-vs-float64 difference of these UNet outputs is at most 3.8e-6 (values of
// std ~0.5; README "Tolerances"). A float32 implementation with another summation order (oneDNN GEMMs and
// convolutions, tiled online-softmax attention) lands within a few times that; 1e-4 absolute is ~25x the
// float32 noise floor while any real error (wrong head split, eps, skip order, timestep rounding) gives
// 1e-2 or more.
constexpr double kUNetTol = 1e-4;

using test::models_dir;

nlohmann::json sidecar(const std::string& model) {
  return read_config_json(models_dir() / (model + ".json"));
}

using test::Source;
using test::source_name;

const UNet2DCondition& unet(const std::string& model, Source source) {
  return test::cached_model<UNet2DCondition>(model, source, [](const std::string& m, Source s) {
    if (s == Source::Diffusers) return load_unet_diffusers(models_dir() / m);
    nlohmann::json config = sidecar(m).at("unet");
    return load_unet_single_file(test::single_file(m, s), &config);
  });
}

Tensor ref(const nlohmann::json& r) {
  return test::ref_tensor("unet", r).to(DType::F32);
}
Tensor ref_nhwc(const nlohmann::json& r) {
  return nchw_to_nhwc(ref(r));
}

// The case's inputs as the UNet's conditioning: the prompt embedding and, for SDXL, diffusers'
// added_cond_kwargs (pooled text_embeds and time_ids).
UNetConditioning conditioning(const nlohmann::json& in) {
  UNetConditioning cond;
  cond.context = ref(in.at("encoder_hidden_states"));
  if (in.contains("added_cond_kwargs.text_embeds")) {
    cond.text_embeds = ref(in.at("added_cond_kwargs.text_embeds"));
    cond.time_ids = ref(in.at("added_cond_kwargs.time_ids"));
  }
  return cond;
}

using Param = test::ModelSource;

class UNetCases : public ::testing::TestWithParam<Param> {};

TEST_P(UNetCases, MatchesEveryTimestepCase) {
  const auto& [model, source] = GetParam();
  const UNet2DCondition& net = unet(model, source);
  int cases = 0;
  for (const auto& c : test::cases_json().at("groups").at("unet").at("cases")) {
    if (c.at("model") != model) continue;
    SCOPED_TRACE(c.at("id").get<std::string>());
    const auto& in = c.at("inputs");
    std::vector<float> t = ref(in.at("timestep")).to_vector();
    Tensor out = net.forward(ref_nhwc(in.at("sample")), t, conditioning(in));
    EXPECT_TRUE(test::all_close(out, ref_nhwc(c.at("outputs").at("sample")), kUNetTol, c.at("id")));
    ++cases;
  }
  EXPECT_EQ(cases, 5);
}

TEST_P(UNetCases, MatchesT500Intermediates) {
  const auto& [model, source] = GetParam();
  const auto& c = test::find_case("unet", model + "/t500");
  const auto& in = c.at("inputs");
  UNetIntermediates got;
  unet(model, source)
      .forward(ref_nhwc(in.at("sample")), ref(in.at("timestep")).to_vector(), conditioning(in), &got);
  ASSERT_FALSE(c.at("intermediates").empty());
  for (const auto& [name, r] : c.at("intermediates").items()) {
    ASSERT_TRUE(got.count(name)) << "no intermediate " << name;
    Tensor want = r.at("shape").size() == 4 ? ref_nhwc(r) : ref(r);
    EXPECT_TRUE(test::all_close(got.at(name), want, kUNetTol, name));
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, UNetCases,
                         ::testing::ValuesIn(test::model_sources({"tiny-sd15", "tiny-sd2v",
                                                                  "tiny-sd15-inpaint", "tiny-sdxl"})),
                         test::ModelSourceName());

// The ControlNet hook: the fixtures' 0.7-scaled residuals added inside tiny-sd15 (diffusers
// down_block_additional_residuals / mid_block_additional_residual). fp32-vs-fp64 noise here is 2.0e-6.
TEST(UNet, AddsControlNetResiduals) {
  const auto& c = test::find_case("unet", "tiny-controlnet-sd15+tiny-sd15/t500");
  const auto& in = c.at("inputs");
  const auto& out = c.at("outputs");
  UNetResiduals res;
  for (const auto& r : out.at("down_block_res_samples[conditioning_scale=0.7]"))
    res.down.push_back(ref_nhwc(r));
  ASSERT_EQ(res.down.size(), 12u);
  res.mid = ref_nhwc(out.at("mid_block_res_sample[conditioning_scale=0.7]"));
  Tensor want = ref_nhwc(out.at("unet_sample_with_residuals[conditioning_scale=0.7]"));
  for (Source s : {Source::Diffusers, Source::SingleFp32}) {
    SCOPED_TRACE(source_name(s));
    const UNet2DCondition& net = unet("tiny-sd15", s);
    Tensor sample = ref_nhwc(in.at("sample")), context = ref(in.at("encoder_hidden_states"));
    std::vector<float> t = ref(in.at("timestep")).to_vector();
    EXPECT_TRUE(
        test::all_close(net.forward(sample, t, context, &res), want, kUNetTol, "unet with residuals"));
    // The residuals change the output far beyond the tolerance (the hook is really exercised).
    EXPECT_GT(test::max_abs_diff(net.forward(sample, t, context), want).max_abs, 100 * kUNetTol);
  }
}

TEST(UNet, RejectsResidualsOfTheWrongShape) {
  const UNet2DCondition& net = unet("tiny-sd15", Source::Diffusers);
  UNetResiduals res;
  for (const Shape& s : net.skip_shapes(1, 8, 8)) res.down.push_back(Tensor::zeros(s));
  res.down[3] = Tensor::zeros({1, 4, 4, 32});
  try {
    net.forward(Tensor::zeros({1, 8, 8, 4}), {10.f}, Tensor::zeros({1, 77, 16}), &res);
    FAIL() << "accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("residual 3"), std::string::npos) << e.what();
  }
}

TEST(UNet, HandlesLatentsNotAMultipleOfTheDownsampling) {
  // 9x7 latents: diffusers upsamples to the skip tensors' sizes (forward_upsample_size); the output keeps the
  // input size.
  const UNet2DCondition& net = unet("tiny-sd15", Source::Diffusers);
  std::vector<float> v(2 * 9 * 7 * 4);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>((i * 37) % 17) / 17.f - 0.5f;
  Tensor out = net.forward(Tensor::from_vector({2, 9, 7, 4}, v), {500.f, 20.f}, Tensor::zeros({2, 5, 16}));
  EXPECT_EQ(out.shape(), (Shape{2, 9, 7, 4}));
}

// ---- configs -------------------------------------------------------------------------------------------

TEST(UNetConfig, InfersShapesAndTakesTheRestFromJson) {
  for (const char* model : {"tiny-sd15", "tiny-sd2v", "tiny-sd15-inpaint"}) {
    SCOPED_TRACE(model);
    nlohmann::json j = sidecar(model).at("unet");
    UNetConfig want = unet_config_from_json(j);
    Weights w = diffusers_component_weights(models_dir() / model / "unet");
    UNetConfig got = infer_unet_config(w, &j);
    EXPECT_EQ(got.in_channels, want.in_channels);
    EXPECT_EQ(got.out_channels, want.out_channels);
    EXPECT_EQ(got.block_out_channels, want.block_out_channels);
    EXPECT_EQ(got.cross_attention, want.cross_attention);
    EXPECT_EQ(got.layers_per_block, want.layers_per_block);
    EXPECT_EQ(got.transformer_depth, want.transformer_depth);
    EXPECT_EQ(got.mid_transformer_depth, want.mid_transformer_depth);
    EXPECT_EQ(got.cross_attention_dim, want.cross_attention_dim);
    EXPECT_EQ(got.use_linear_projection, want.use_linear_projection);
    EXPECT_EQ(got.heads, want.heads);
    EXPECT_EQ(got.upcast_attention, want.upcast_attention);
    EXPECT_EQ(got.norm_num_groups, 8);
    EXPECT_EQ(got.time_proj_dim, 16);
    EXPECT_EQ(got.time_embed_dim, 64);
  }
  EXPECT_EQ(unet_config_from_json(sidecar("tiny-sd15-inpaint").at("unet")).in_channels, 9);
  EXPECT_EQ(unet_config_from_json(sidecar("tiny-sd2v").at("unet")).heads, (std::vector<int>{2, 2, 4, 4}));
  EXPECT_TRUE(unet_config_from_json(sidecar("tiny-sd2v").at("unet")).upcast_attention);
}

TEST(UNetConfig, DefaultsWithoutJsonAreTheRealModels) {
  // Without a config the real models' 32 groups apply, which the 16-channel tiny model cannot have.
  Weights w = diffusers_component_weights(models_dir() / "tiny-sd15" / "unet");
  try {
    infer_unet_config(w);
    FAIL() << "accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("norm_num_groups"), std::string::npos) << e.what();
  }
  nlohmann::json groups_only = {{"norm_num_groups", 8}};
  UNetConfig sd1 = infer_unet_config(w, &groups_only);
  EXPECT_EQ(sd1.heads, (std::vector<int>{8, 8, 8, 8}));
  Weights w2 = diffusers_component_weights(models_dir() / "tiny-sd2v" / "unet");
  UNetConfig sd2 = infer_unet_config(w2, &groups_only);
  EXPECT_TRUE(sd2.use_linear_projection);
  EXPECT_EQ(sd2.heads, (std::vector<int>{1, 1, 1, 1}));  // head dim 64 (at least one head)
}

// SDXL's added embedding: the widths from the json, and from the add_embedding shape without one (real
// SDXL: addition_time_embed_dim 256).
TEST(UNetConfig, ReadsSdxlTextTimeEmbedding) {
  for (const char* model : {"tiny-sdxl", "tiny-sdxl-refiner"}) {
    SCOPED_TRACE(model);
    nlohmann::json j = sidecar(model).at("unet");
    UNetConfig want = unet_config_from_json(j);
    EXPECT_EQ(want.addition_time_embed_dim, 8);
    Weights w = diffusers_component_weights(models_dir() / model / "unet");
    UNetConfig got = infer_unet_config(w, &j);
    EXPECT_EQ(got.projection_class_embeddings_input_dim, want.projection_class_embeddings_input_dim);
    EXPECT_EQ(got.addition_time_embed_dim, 8);
    for (int i = 0; i < want.levels(); ++i)  // (a level without transformers has no depth to infer)
      if (want.cross_attention[i]) {
        EXPECT_EQ(got.transformer_depth[i], want.transformer_depth[i]) << i;
      }
    EXPECT_EQ(got.mid_transformer_depth, want.mid_transformer_depth);
    EXPECT_EQ(got.heads, want.heads);
    nlohmann::json groups_only = {{"norm_num_groups", 8}};
    EXPECT_EQ(infer_unet_config(w, &groups_only).addition_time_embed_dim, 256);
  }
  // Pooled 24 + 6 ids x 8 (base), 24 + 5 x 8 (refiner).
  EXPECT_EQ(unet_config_from_json(sidecar("tiny-sdxl").at("unet")).time_id_count(24), 6);
  EXPECT_EQ(unet_config_from_json(sidecar("tiny-sdxl-refiner").at("unet")).time_id_count(24), 5);
  EXPECT_EQ(unet_config_from_json(sidecar("tiny-sdxl").at("unet")).time_id_count(20), -1);
  nlohmann::json j = sidecar("tiny-sdxl").at("unet");
  j["addition_time_embed_dim"] = nullptr;
  EXPECT_THROW(unet_config_from_json(j), Error);
}

TEST(UNet, SdxlNeedsAddedConditionsOfTheRightWidth) {
  const UNet2DCondition& net = unet("tiny-sdxl", Source::Diffusers);
  UNetConditioning cond;
  cond.context = Tensor::zeros({1, 77, 40});
  Tensor sample = Tensor::zeros({1, 8, 8, 4});
  std::string msg = test::error_of([&] { net.forward(sample, {10.f}, cond); });
  EXPECT_NE(msg.find("needs text_embeds and time_ids"), std::string::npos) << msg;
  cond.text_embeds = Tensor::zeros({1, 24});
  cond.time_ids = Tensor::zeros({1, 5});
  msg = test::error_of([&] { net.forward(sample, {10.f}, cond); });
  EXPECT_NE(msg.find("do not add up to add_embedding's 72 inputs"), std::string::npos) << msg;
  cond.time_ids = Tensor::zeros({1, 6});
  EXPECT_EQ(net.forward(sample, {10.f}, cond).shape(), (Shape{1, 8, 8, 4}));
  // And an SD 1.5 UNet refuses them.
  cond.context = Tensor::zeros({1, 77, 16});
  msg = test::error_of([&] { unet("tiny-sd15", Source::Diffusers).forward(sample, {10.f}, cond); });
  EXPECT_NE(msg.find("no added-embedding layers"), std::string::npos) << msg;
}

TEST(UNetConfig, RejectsUnsupportedFeatures) {
  nlohmann::json j = sidecar("tiny-sd15").at("unet");
  j["addition_embed_type"] = "image";
  EXPECT_THROW(unet_config_from_json(j), Error);
  j = sidecar("tiny-sd15").at("unet");
  j["attention_head_dim"] = {2, 2, 2};
  EXPECT_THROW(unet_config_from_json(j), Error);
}

// ---- loading errors ------------------------------------------------------------------------------------

TEST(UNetLoad, MissingTensorIsNamed) {
  const fs::path dir = models_dir() / "tiny-sd15" / "unet";
  Weights w = diffusers_component_weights(dir);
  UNetConfig config = unet_config_from_file(dir / "config.json");
  const std::string name = "up_blocks.2.attentions.1.transformer_blocks.0.attn2.to_k.weight";
  ASSERT_TRUE(w.has(name));
  std::string msg = test::error_of([&] { UNet2DCondition(test::weights_without(w, name), config); });
  EXPECT_NE(msg.find("missing tensor '" + name + "'"), std::string::npos) << msg;
  EXPECT_NE(msg.find(dir.string()), std::string::npos) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos);
}

TEST(UNetLoad, WrongShapeIsNamed) {
  const fs::path dir = models_dir() / "tiny-sd15" / "unet";
  Weights w = diffusers_component_weights(dir);
  const std::string name = "down_blocks.1.resnets.0.conv1.weight";
  w.add(name, Tensor::zeros({16, 16, 1, 1}));
  std::string msg = test::error_of([&] { UNet2DCondition(w, unet_config_from_file(dir / "config.json")); });
  EXPECT_NE(msg.find("'" + name + "' has shape [16, 16, 1, 1]"), std::string::npos) << msg;
}

TEST(UNetLoad, SingleFileMissingTensorIsNamed) {
  auto st = SafeTensors::open(models_dir() / "tiny-sd15.fp16.safetensors");
  std::vector<std::pair<std::string, Tensor>> kept;
  const std::string dropped = "model.diffusion_model.output_blocks.5.2.conv.weight";
  for (const auto& name : st.names())
    if (name != dropped) kept.emplace_back(name, st.get(name));
  ASSERT_EQ(kept.size() + 1, st.names().size());
  fs::path file = test::temp_dir("unet_missing") / "cut.safetensors";
  write_safetensors(file, kept);
  nlohmann::json config = sidecar("tiny-sd15").at("unet");
  std::string msg = test::error_of([&] { load_unet_single_file(file, &config); });
  // output_blocks.5.2.conv is diffusers' up_blocks.1.upsamplers.0.conv.
  EXPECT_NE(msg.find("missing tensor 'up_blocks.1.upsamplers.0.conv.weight'"), std::string::npos) << msg;
  EXPECT_NE(msg.find(file.string()), std::string::npos) << msg;
}

TEST(UNetLoad, SingleFileIgnoresOtherComponentsButNotUnknownUNetTensors) {
  auto st = SafeTensors::open(models_dir() / "tiny-sd15.fp16.safetensors");
  std::vector<std::pair<std::string, Tensor>> all;
  for (const auto& name : st.names()) all.emplace_back(name, st.get(name));
  all.emplace_back("model_ema.decay", Tensor::zeros({1}));
  all.emplace_back("alphas_cumprod", Tensor::zeros({1000}));
  all.emplace_back("cond_stage_model.transformer.text_model.embeddings.position_ids", Tensor::zeros({1, 77}));
  fs::path file = test::temp_dir("unet_extra") / "extra.safetensors";
  write_safetensors(file, all);
  nlohmann::json config = sidecar("tiny-sd15").at("unet");
  EXPECT_NO_THROW(load_unet_single_file(file, &config));

  all.emplace_back("model.diffusion_model.bogus.weight", Tensor::zeros({3}));
  write_safetensors(file, all);
  std::string msg = test::error_of([&] { load_unet_single_file(file, &config); });
  EXPECT_NE(msg.find("'model.diffusion_model.bogus.weight'"), std::string::npos) << msg;
}

// Converting each single file gives exactly the diffusers folder's UNet: same names, shapes and bytes.
TEST(LdmKeys, SingleFileUNetEqualsTheDiffusersFolder) {
  for (const char* model : {"tiny-sd15", "tiny-sd2v", "tiny-sd15-inpaint"}) {
    SCOPED_TRACE(model);
    auto st = SafeTensors::open(models_dir() / (std::string(model) + ".fp16.safetensors"));
    Weights got = unet_weights_from_ldm(st);
    Weights want = diffusers_component_weights(models_dir() / model / "unet");
    ASSERT_EQ(got.size(), want.size());
    for (const auto& [name, t] : want.all()) {
      ASSERT_TRUE(got.has(name)) << name;
      const Tensor& g = got.get(name);
      ASSERT_EQ(g.shape(), t.shape()) << name;
      ASSERT_EQ(g.dtype(), t.dtype()) << name;
      EXPECT_EQ(std::memcmp(g.raw(), t.raw(), t.nbytes()), 0) << name;
    }
  }
}

TEST(LdmKeys, MapsUNetNamesAsDiffusers) {
  EXPECT_EQ(ldm_unet_key_to_diffusers("input_blocks.0.0.weight", 2), "conv_in.weight");
  EXPECT_EQ(ldm_unet_key_to_diffusers("input_blocks.4.1.proj_in.weight", 2),
            "down_blocks.1.attentions.0.proj_in.weight");
  EXPECT_EQ(ldm_unet_key_to_diffusers("input_blocks.7.0.skip_connection.bias", 2),
            "down_blocks.2.resnets.0.conv_shortcut.bias");
  EXPECT_EQ(ldm_unet_key_to_diffusers("input_blocks.9.0.op.weight", 2),
            "down_blocks.2.downsamplers.0.conv.weight");
  EXPECT_EQ(ldm_unet_key_to_diffusers("middle_block.2.emb_layers.1.weight", 2),
            "mid_block.resnets.1.time_emb_proj.weight");
  EXPECT_EQ(ldm_unet_key_to_diffusers("output_blocks.2.1.conv.bias", 2),
            "up_blocks.0.upsamplers.0.conv.bias");
  EXPECT_EQ(ldm_unet_key_to_diffusers("output_blocks.5.2.conv.bias", 2),
            "up_blocks.1.upsamplers.0.conv.bias");
  EXPECT_EQ(ldm_unet_key_to_diffusers("output_blocks.11.1.transformer_blocks.0.ff.net.2.weight", 2),
            "up_blocks.3.attentions.2.transformer_blocks.0.ff.net.2.weight");
  EXPECT_EQ(ldm_unet_key_to_diffusers("out.0.weight", 2), "conv_norm_out.weight");
  EXPECT_EQ(ldm_unet_key_to_diffusers("time_embed.2.bias", 2), "time_embedding.linear_2.bias");
  EXPECT_EQ(ldm_unet_key_to_diffusers("input_blocks.1.0.bogus.weight", 2), "");
}

}  // namespace
}  // namespace i2i
