// ControlNet against the fixtures' `tiny-controlnet-sd15+tiny-sd15/t500` case (diffusers 0.27.2, float32):
// the 12 down-block residuals and the mid-block residual for conditioning scales 1.0 and 0.7, loaded from the
// diffusers folder and from the original-layout single file, and the tiny-sd15 UNet output with the
// ControlNet's residuals added; plus configs, key conversion and loading errors.
#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <map>
#include <memory>

#include "core/error.h"
#include "io/safetensors.h"
#include "models/checkpoint.h"
#include "models/controlnet_load.h"
#include "models/ldm_keys.h"
#include "models/model_config.h"
#include "models/unet_load.h"
#include "support/fixtures.h"

namespace i2i {
namespace {

namespace fs = std::filesystem;

// Tolerance: the fixtures' float32-vs-float64 difference is at most 6.4e-6 for the ControlNet residuals and
// 2.0e-6 for the UNet output with residuals (README "Tolerances"). A float32 implementation with another
// summation order (oneDNN convolutions and GEMMs, tiled attention) lands within a few times that; 1e-4
// absolute is 15-50x the float32 noise floor, while a real error (wrong zero-conv order, conditioning
// embedding stride, missing SiLU, scale not applied) moves values by 1e-2 or more.
constexpr double kTol = 1e-4;

const fs::path& models_dir() {
  static const fs::path p = test::fixtures_dir() / "models";
  return p;
}

nlohmann::json sidecar_controlnet() {
  return read_config_json(models_dir() / "tiny-controlnet-sd15.json").at("controlnet");
}

enum class Source { Diffusers, SingleFile };
const char* source_name(Source s) {
  return s == Source::Diffusers ? "diffusers" : "single_file";
}

const ControlNet& controlnet(Source source) {
  static std::map<Source, std::unique_ptr<ControlNet>> cache;
  auto& slot = cache[source];
  if (!slot) {
    if (source == Source::Diffusers) {
      slot = std::make_unique<ControlNet>(load_controlnet_diffusers(models_dir() / "tiny-controlnet-sd15"));
    } else {
      nlohmann::json config = sidecar_controlnet();
      slot = std::make_unique<ControlNet>(
          load_controlnet_single_file(models_dir() / "tiny-controlnet-sd15.safetensors", &config));
    }
  }
  return *slot;
}

const UNet2DCondition& unet() {
  static UNet2DCondition net = load_unet_diffusers(models_dir() / "tiny-sd15");
  return net;
}

Tensor ref(const nlohmann::json& r) {
  return test::ref_tensor("unet", r).to(DType::F32);
}
Tensor ref_nhwc(const nlohmann::json& r) {
  return nchw_to_nhwc(ref(r));
}

const nlohmann::json& the_case() {
  return test::find_case("unet", "tiny-controlnet-sd15+tiny-sd15/t500");
}

struct Inputs {
  Tensor sample, context, control;
  std::vector<float> t;
};
Inputs inputs() {
  const auto& in = the_case().at("inputs");
  return {ref_nhwc(in.at("sample")), ref(in.at("encoder_hidden_states")), ref_nhwc(in.at("controlnet_cond")),
          ref(in.at("timestep")).to_vector()};
}

class ControlNetCases : public ::testing::TestWithParam<Source> {};

TEST_P(ControlNetCases, ResidualsMatchForBothScales) {
  const ControlNet& net = controlnet(GetParam());
  const Inputs in = inputs();
  const auto& out = the_case().at("outputs");
  for (const char* scale : {"1.0", "0.7"}) {
    SCOPED_TRACE(std::string("scale ") + scale);
    UNetResiduals got = net.forward(in.sample, in.t, in.context, in.control, std::stof(scale));
    const auto& down = out.at(std::string("down_block_res_samples[conditioning_scale=") + scale + "]");
    ASSERT_EQ(down.size(), 12u);
    ASSERT_EQ(got.down.size(), 12u);
    for (size_t i = 0; i < down.size(); ++i)
      EXPECT_TRUE(test::all_close(got.down[i], ref_nhwc(down[i]), kTol, "down " + std::to_string(i)));
    EXPECT_TRUE(test::all_close(
        got.mid, ref_nhwc(out.at(std::string("mid_block_res_sample[conditioning_scale=") + scale + "]")),
        kTol, "mid"));
  }
}

TEST_P(ControlNetCases, UNetWithTheResidualsMatches) {
  const Inputs in = inputs();
  UNetResiduals res = controlnet(GetParam()).forward(in.sample, in.t, in.context, in.control, 0.7f);
  Tensor want = ref_nhwc(the_case().at("outputs").at("unet_sample_with_residuals[conditioning_scale=0.7]"));
  EXPECT_TRUE(test::all_close(unet().forward(in.sample, in.t, in.context, &res), want, kTol, "unet out"));
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ControlNetCases, ::testing::Values(Source::Diffusers, Source::SingleFile),
                         [](const auto& info) { return std::string(source_name(info.param)); });

TEST(ControlNet, ScaleMultipliesEveryResidual) {
  const Inputs in = inputs();
  const ControlNet& net = controlnet(Source::Diffusers);
  UNetResiduals one = net.forward(in.sample, in.t, in.context, in.control, 1.f);
  UNetResiduals zero = net.forward(in.sample, in.t, in.context, in.control, 0.f);
  for (const Tensor& t : zero.down) EXPECT_EQ(test::max_abs_diff(t, Tensor::zeros(t.shape())).max_abs, 0);
  EXPECT_GT(test::max_abs_diff(one.mid, zero.mid).max_abs, 1e-2);
}

TEST(ControlNet, OneControlImageServesTheWholeBatch) {
  // The fixture's control batch holds the same image twice: a batch of 1 gives the same residuals.
  const Inputs in = inputs();
  ASSERT_EQ(test::max_abs_diff(in.control[0], in.control[1]).max_abs, 0);
  const ControlNet& net = controlnet(Source::Diffusers);
  UNetResiduals both = net.forward(in.sample, in.t, in.context, in.control, 0.7f);
  UNetResiduals single = net.forward(in.sample, in.t, in.context, in.control.slice0(0, 1), 0.7f);
  for (size_t i = 0; i < both.down.size(); ++i) EXPECT_TRUE(test::all_close(single.down[i], both.down[i], 0));
  EXPECT_TRUE(test::all_close(single.mid, both.mid, 0));
}

TEST(ControlNet, RejectsAControlImageOfTheWrongSize) {
  const Inputs in = inputs();
  std::string msg = test::error_of([&] {
    controlnet(Source::Diffusers).forward(in.sample, in.t, in.context, Tensor::zeros({2, 32, 32, 3}));
  });
  EXPECT_NE(msg.find("8x the latent size (64x64)"), std::string::npos) << msg;
  msg = test::error_of([&] {
    controlnet(Source::Diffusers).forward(in.sample, in.t, in.context, Tensor::zeros({2, 64, 64, 1}));
  });
  EXPECT_NE(msg.find("control image must be float32"), std::string::npos) << msg;
}

// ---- configs ---------------------------------------------------------------------------------------------

TEST(ControlNetConfig, FolderSidecarAndShapesAgree) {
  ControlNetConfig folder =
      controlnet_config_from_file(models_dir() / "tiny-controlnet-sd15" / "config.json");
  ControlNetConfig side = controlnet_config_from_json(sidecar_controlnet());
  nlohmann::json j = sidecar_controlnet();
  Weights w = diffusers_component_weights(models_dir() / "tiny-controlnet-sd15");
  ControlNetConfig inferred = infer_controlnet_config(w, &j);
  for (const ControlNetConfig* c : {&folder, &side, &inferred}) {
    EXPECT_EQ(c->unet.block_out_channels, (std::vector<int64_t>{16, 16, 32, 32}));
    EXPECT_EQ(c->unet.cross_attention, (std::vector<bool>{true, true, true, false}));
    EXPECT_EQ(c->unet.layers_per_block, 2);
    EXPECT_EQ(c->unet.heads, (std::vector<int>{2, 2, 2, 2}));
    EXPECT_EQ(c->unet.cross_attention_dim, 16);
    EXPECT_EQ(c->unet.norm_num_groups, 8);
    EXPECT_EQ(c->unet.in_channels, 4);
    EXPECT_EQ(c->unet.time_proj_dim, 16);
    EXPECT_EQ(c->unet.time_embed_dim, 64);
    EXPECT_EQ(c->conditioning_channels, 3);
    EXPECT_EQ(c->conditioning_embedding_out_channels, (std::vector<int64_t>{8, 8, 16, 16}));
    EXPECT_EQ(c->downscale(), 8);
    EXPECT_FALSE(c->bgr);
  }
  // Without a config the shapes still give the conditioning embedding; the real models' 32 groups cannot
  // divide 16 channels, which is reported.
  std::string msg = test::error_of([&] { infer_controlnet_config(w); });
  EXPECT_NE(msg.find("norm_num_groups"), std::string::npos) << msg;
  nlohmann::json groups_only = {{"norm_num_groups", 8}};
  ControlNetConfig defaults = infer_controlnet_config(w, &groups_only);
  EXPECT_EQ(defaults.unet.heads, (std::vector<int>{8, 8, 8, 8}));
  EXPECT_EQ(defaults.conditioning_embedding_out_channels, (std::vector<int64_t>{8, 8, 16, 16}));
}

TEST(ControlNetConfig, RejectsUnsupportedSettings) {
  nlohmann::json j = sidecar_controlnet();
  j["global_pool_conditions"] = true;
  EXPECT_NE(test::error_of([&] { controlnet_config_from_json(j); }).find("global_pool_conditions"),
            std::string::npos);
  j = sidecar_controlnet();
  j["controlnet_conditioning_channel_order"] = "grb";
  EXPECT_THROW(controlnet_config_from_json(j), Error);
  j = sidecar_controlnet();
  j["controlnet_conditioning_channel_order"] = "bgr";
  EXPECT_TRUE(controlnet_config_from_json(j).bgr);
  j = sidecar_controlnet();
  j["down_block_types"] = {"CrossAttnDownBlock2D", "SimpleDownBlock2D", "CrossAttnDownBlock2D",
                           "DownBlock2D"};
  EXPECT_THROW(controlnet_config_from_json(j), Error);
}

TEST(ControlNet, BgrOrderFlipsTheControlImage) {
  // A "bgr" ControlNet given the channel-reversed image equals the "rgb" one given the original.
  nlohmann::json j = sidecar_controlnet();
  j["controlnet_conditioning_channel_order"] = "bgr";
  Weights w = diffusers_component_weights(models_dir() / "tiny-controlnet-sd15");
  ControlNet bgr(w, controlnet_config_from_json(j));
  Inputs in = inputs();
  // A control image whose channels differ.
  std::vector<float> v(2 * 64 * 64 * 3), r(v.size());
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>((i * 7919) % 255) / 255.f;
  for (size_t p = 0; p < v.size() / 3; ++p)
    for (int c = 0; c < 3; ++c) r[3 * p + c] = v[3 * p + 2 - c];
  Tensor img = Tensor::from_vector({2, 64, 64, 3}, v), rev = Tensor::from_vector({2, 64, 64, 3}, r);
  UNetResiduals a = controlnet(Source::Diffusers).forward(in.sample, in.t, in.context, img);
  UNetResiduals b = bgr.forward(in.sample, in.t, in.context, rev);
  UNetResiduals c = bgr.forward(in.sample, in.t, in.context, img);
  EXPECT_TRUE(test::all_close(b.mid, a.mid, 0));
  EXPECT_GT(test::max_abs_diff(c.mid, a.mid).max_abs, 1e-3);
}

// ---- the UNet match check --------------------------------------------------------------------------------

TEST(ControlNetMatch, AcceptsItsUNetAndRejectsAnotherWidth) {
  const ControlNetConfig& cn = controlnet(Source::Diffusers).config();
  EXPECT_NO_THROW(check_controlnet_matches(cn, unet().config(), "cn.safetensors", "sd15.safetensors"));

  UNetConfig sd2 = unet().config();
  sd2.cross_attention_dim = 1024;
  std::string msg = test::error_of(
      [&] { check_controlnet_matches(cn, sd2, "control_sd15_canny.safetensors", "v2-1_768.safetensors"); });
  EXPECT_NE(msg.find("control_sd15_canny.safetensors"), std::string::npos) << msg;
  EXPECT_NE(msg.find("v2-1_768.safetensors"), std::string::npos) << msg;
  EXPECT_NE(msg.find("cross-attention width 16"), std::string::npos) << msg;
  EXPECT_NE(msg.find("cross-attention width 1024 (SD 2.x)"), std::string::npos) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos);

  UNetConfig narrow = unet().config();
  narrow.block_out_channels = {16, 32, 32};
  EXPECT_THROW(check_controlnet_matches(cn, narrow, "a", "b"), Error);
}

TEST(ControlNetMatch, RejectsTheSDXLCheckpoint) {
  // tiny-sdxl: 40-wide prompt embeddings and three levels.
  Weights w = unet_weights_from_ldm(SafeTensors::open(models_dir() / "tiny-sdxl.fp16.safetensors"));
  UNetConfig sdxl;
  sdxl.cross_attention_dim = w.get("mid_block.attentions.0.transformer_blocks.0.attn2.to_k.weight").dim(1);
  sdxl.block_out_channels = {16, 32, 32};
  ASSERT_EQ(sdxl.cross_attention_dim, 40);
  std::string msg = test::error_of([&] {
    check_controlnet_matches(controlnet(Source::SingleFile).config(), sdxl,
                             "tiny-controlnet-sd15.safetensors", "tiny-sdxl.fp16.safetensors");
  });
  EXPECT_NE(msg.find("does not match the checkpoint tiny-sdxl.fp16.safetensors"), std::string::npos) << msg;
}

// ---- loading
// -----------------------------------------------------------------------------------------------

TEST(ControlNetLoad, SingleFileEqualsTheDiffusersFolder) {
  // Same names, shapes and values (the folder is float16, the file float32; the weights are fp16-exact).
  auto st = SafeTensors::open(models_dir() / "tiny-controlnet-sd15.safetensors");
  Weights got = controlnet_weights_from_ldm(st);
  Weights want = diffusers_component_weights(models_dir() / "tiny-controlnet-sd15");
  ASSERT_EQ(got.size(), want.size());
  for (const auto& [name, t] : want.all()) {
    ASSERT_TRUE(got.has(name)) << name;
    Tensor g = got.get(name).to(DType::F32), wt = t.to(DType::F32);
    ASSERT_EQ(g.shape(), wt.shape()) << name;
    EXPECT_EQ(std::memcmp(g.raw(), wt.raw(), wt.nbytes()), 0) << name;
  }
}

TEST(ControlNetLoad, MapsOriginalNames) {
  EXPECT_EQ(ldm_controlnet_key_to_diffusers("input_hint_block.0.weight", 2, 8),
            "controlnet_cond_embedding.conv_in.weight");
  EXPECT_EQ(ldm_controlnet_key_to_diffusers("input_hint_block.2.bias", 2, 8),
            "controlnet_cond_embedding.blocks.0.bias");
  EXPECT_EQ(ldm_controlnet_key_to_diffusers("input_hint_block.12.weight", 2, 8),
            "controlnet_cond_embedding.blocks.5.weight");
  EXPECT_EQ(ldm_controlnet_key_to_diffusers("input_hint_block.14.weight", 2, 8),
            "controlnet_cond_embedding.conv_out.weight");
  EXPECT_EQ(ldm_controlnet_key_to_diffusers("input_hint_block.1.weight", 2, 8), "");
  EXPECT_EQ(ldm_controlnet_key_to_diffusers("zero_convs.11.0.bias", 2, 8), "controlnet_down_blocks.11.bias");
  EXPECT_EQ(ldm_controlnet_key_to_diffusers("middle_block_out.0.weight", 2, 8),
            "controlnet_mid_block.weight");
  EXPECT_EQ(ldm_controlnet_key_to_diffusers("input_blocks.4.1.proj_in.weight", 2, 8),
            "down_blocks.1.attentions.0.proj_in.weight");
  EXPECT_EQ(ldm_controlnet_key_to_diffusers("time_embed.0.weight", 2, 8), "time_embedding.linear_1.weight");
  EXPECT_EQ(ldm_controlnet_key_to_diffusers("output_blocks.0.0.in_layers.0.weight", 2, 8), "");
  EXPECT_EQ(ldm_controlnet_key_to_diffusers("out.0.weight", 2, 8), "");
}

TEST(ControlNetLoad, ThroughOpenCheckpoint) {
  const Inputs in = inputs();
  const Tensor want = controlnet(Source::Diffusers).forward(in.sample, in.t, in.context, in.control).mid;
  for (const char* name : {"tiny-controlnet-sd15", "tiny-controlnet-sd15.safetensors"}) {
    SCOPED_TRACE(name);
    Checkpoint ck = open_checkpoint(models_dir() / name);  // the single file finds its .json sidecar
    ControlNet net = load_controlnet(ck);
    EXPECT_TRUE(test::all_close(net.forward(in.sample, in.t, in.context, in.control).mid, want, kTol));
  }
  std::string msg =
      test::error_of([&] { load_controlnet(open_checkpoint(models_dir() / "tiny-sd15.safetensors")); });
  EXPECT_NE(msg.find("not a ControlNet"), std::string::npos) << msg;
}

TEST(ControlNetLoad, MissingTensorIsNamed) {
  const fs::path dir = models_dir() / "tiny-controlnet-sd15";
  Weights w = diffusers_component_weights(dir);
  ControlNetConfig config = controlnet_config_from_file(dir / "config.json");
  for (const std::string name : {"controlnet_down_blocks.7.weight", "controlnet_cond_embedding.blocks.3.bias",
                                 "controlnet_mid_block.bias", "down_blocks.2.attentions.1.proj_out.weight"}) {
    ASSERT_TRUE(w.has(name)) << name;
    std::string msg = test::error_of([&] { ControlNet(test::weights_without(w, name), config); });
    EXPECT_NE(msg.find("missing tensor '" + name + "'"), std::string::npos) << msg;
    EXPECT_NE(msg.find(dir.string()), std::string::npos) << msg;
  }
}

TEST(ControlNetLoad, SingleFileMissingAndUnknownTensorsAreNamed) {
  auto st = SafeTensors::open(models_dir() / "tiny-controlnet-sd15.safetensors");
  nlohmann::json config = sidecar_controlnet();
  const std::string dropped = "control_model.zero_convs.4.0.weight";
  std::vector<std::pair<std::string, Tensor>> kept;
  for (const auto& name : st.names())
    if (name != dropped) kept.emplace_back(name, st.get(name));
  ASSERT_EQ(kept.size() + 1, st.names().size());
  fs::path file = test::temp_dir("controlnet_missing") / "cut.safetensors";
  write_safetensors(file, kept);
  std::string msg = test::error_of([&] { load_controlnet_single_file(file, &config); });
  EXPECT_NE(msg.find("missing tensor 'controlnet_down_blocks.4.weight'"), std::string::npos) << msg;
  EXPECT_NE(msg.find(file.string()), std::string::npos) << msg;

  kept.emplace_back(dropped, st.get(dropped));
  kept.emplace_back("control_model.bogus.weight", Tensor::zeros({3}));
  write_safetensors(file, kept);
  msg = test::error_of([&] { load_controlnet_single_file(file, &config); });
  EXPECT_NE(msg.find("'control_model.bogus.weight'"), std::string::npos) << msg;
}

}  // namespace
}  // namespace i2i
