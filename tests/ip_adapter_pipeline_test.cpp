// IP-Adapter in the denoising pipeline at the tensor level (run_img2img with IpAdapterUnits): the fixtures'
// sd15 `pipelines` cases of cases/ip_adapter.json (StableDiffusionImg2ImgPipeline with ip_adapter_image,
// diffusers 0.27.2) reproduced from the seed with the image tokens diffusers computed (`ip_tokens`), so this
// checks the UNet batch layout, the scales and the layer choice apart from the image encoder; plus the
// layer-choice helpers, txt2img / inpaint with an IP unit, scale 0 = no unit, the units in the parameters
// text (A1111 ControlNet-extension style) and their validation.
#include <gtest/gtest.h>

#include <functional>

#include "core/error.h"
#include "io/safetensors.h"
#include "models/controlnet_load.h"
#include "models/ldm_keys.h"
#include "models/unet.h"
#include "pipelines/img2img.h"
#include "pipelines/infotext.h"
#include "preprocess/control_image.h"
#include "sampling/rng_torch.h"
#include "support/fixtures.h"
#include "support/pipeline_cases.h"

namespace i2i {
namespace {
namespace fs = std::filesystem;

const char* const kIndex = "ip_adapter.json";

const SdModel& model() {
  return test::fixture_model("tiny-sd15.safetensors");
}

const IpAdapterAttention& adapter(const std::string& weight_file) {
  static std::map<std::string, std::unique_ptr<IpAdapterAttention>> cache;
  auto& slot = cache[weight_file];
  if (!slot)
    slot = std::make_unique<IpAdapterAttention>(
        weights_from_safetensors(SafeTensors::open(test::fixtures_dir() / weight_file)), model().unet,
        "tiny-sd15", Precision::F32);
  return *slot;
}

Tensor ref(const nlohmann::json& r) {
  return test::index_tensors(kIndex).get(r.at("key").get<std::string>()).to(DType::F32);
}

const nlohmann::json& output(const nlohmann::json& c, const std::string& prefix) {
  for (const auto& [k, v] : c.at("outputs").items())
    if (k.rfind(prefix, 0) == 0) return v;
  throw std::runtime_error("no output " + prefix);
}

// The case's unit with diffusers' own image tokens: ip_tokens [neg x n, pos x n] (or [pos x n]) per image.
IpAdapterUnit unit_for_case(const nlohmann::json& c) {
  const auto& ip = c.at("ip_adapter");
  IpAdapterUnit u;
  u.adapter = &adapter(ip.at("weight_file"));
  u.name = fs::path(ip.at("weight_file").get<std::string>()).filename().string();
  const Tensor t = ref(output(c, "ip_tokens"));  // [k, 1, N, D]
  const Tensor tokens = t.reshape({t.dim(0), t.dim(2), t.dim(3)});
  const bool cfg = c.at("parameters").at("guidance_scale").get<double>() > 1.0;
  u.positive = tokens.slice0(cfg ? tokens.dim(0) / 2 : 0, (cfg ? tokens.dim(0) / 2 : 0) + 1);
  if (cfg) u.negative = tokens.slice0(0, 1);
  if (!ip.at("scale").is_null()) u.scale = ip.at("scale").get<float>();
  if (!ip.at("per_layer_scale_rule").is_null()) {
    std::vector<IpAdapterLayerScale> layers;
    for (const auto& [name, s] : ip.at("per_layer_scale_rule").at("layers").items())
      layers.push_back({name, s.get<double>()});
    u.layer_scales = ip_adapter_layer_scales(layers, model().unet.transformer_block_names());
    // The rule gives what the case lists per layer.
    const auto& names = model().unet.transformer_block_names();
    for (size_t i = 0; i < names.size(); ++i)
      EXPECT_EQ(u.layer_scales[i], ip.at("per_layer_scales").at(names[i] + ".attn2").get<float>())
          << names[i];
  }
  return u;
}

Img2ImgResult run(const Img2ImgRequest& req, uint64_t seed = 1234) {
  TorchCpuGenerator gen(seed);
  return run_img2img(model(), req, {&gen});
}

class IpAdapterPipelineCase : public ::testing::TestWithParam<std::string> {};

TEST_P(IpAdapterPipelineCase, MatchesDiffusersWithItsImageTokens) {
  const auto& c = test::find_index_case(kIndex, "pipelines", GetParam());
  Img2ImgRequest req = test::request_for_case(c);
  req.ip_adapters.push_back(unit_for_case(c));
  test::expect_matches_case(run(req, c.at("parameters").at("seed")), c, test::index_tensors(kIndex));
}

std::vector<std::string> sd15_cases() {
  std::vector<std::string> ids;
  for (const auto& c : test::index_json(kIndex).at("groups").at("pipelines").at("cases"))
    if (c.at("model") == "tiny-sd15") ids.push_back(c.at("id"));
  return ids;
}

std::string param_name(const ::testing::TestParamInfo<std::string>& info) {
  std::string n = info.param;
  for (char& ch : n)
    if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return n;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, IpAdapterPipelineCase, ::testing::ValuesIn(sd15_cases()), param_name);

TEST(IpAdapterPipeline, EverySd15CaseIsCovered) {
  EXPECT_EQ(sd15_cases().size(), 11u);
}

// The tiny-sdxl cases: the SDXL adapters on the SDXL pipeline (pooled embeddings and time ids beside the
// image tokens), from the seed with diffusers' image tokens.
TEST(IpAdapterPipeline, MatchesEverySdxlCase) {
  const SdModel& sdxl = test::fixture_model("tiny-sdxl");
  std::map<std::string, std::unique_ptr<IpAdapterAttention>> adapters;
  int cases = 0;
  for (const auto& c : test::index_json(kIndex).at("groups").at("pipelines").at("cases")) {
    if (c.at("model") != "tiny-sdxl") continue;
    SCOPED_TRACE(c.at("id").get<std::string>());
    const auto& ip = c.at("ip_adapter");
    const std::string file = ip.at("weight_file");
    if (!adapters.count(file))
      adapters[file] = std::make_unique<IpAdapterAttention>(
          weights_from_safetensors(SafeTensors::open(test::fixtures_dir() / file)), sdxl.unet, "tiny-sdxl",
          Precision::F32);
    IpAdapterUnit u;
    u.adapter = adapters[file].get();
    u.name = fs::path(file).filename().string();
    const Tensor t = ref(output(c, "ip_tokens"));  // [2, 1, N, D]: [negative, positive]
    const Tensor tokens = t.reshape({t.dim(0), t.dim(2), t.dim(3)});
    u.negative = tokens.slice0(0, 1);
    u.positive = tokens.slice0(1, 2);
    u.scale = ip.at("scale").get<float>();
    Img2ImgRequest req = test::request_for_case(c);
    req.ip_adapters.push_back(u);
    TorchCpuGenerator gen(c.at("parameters").at("seed").get<uint64_t>());
    test::expect_matches_case(run_img2img(sdxl, req, {&gen}), c, test::index_tensors(kIndex));
    ++cases;
  }
  EXPECT_EQ(cases, 2);
}

const nlohmann::json& base_case() {
  return test::find_index_case(kIndex, "pipelines", "sd15_ip_base_Euler_a_scale1.0");
}

double diff(const Img2ImgResult& a, const Img2ImgResult& b) {
  return test::max_abs_diff(a.latents, b.latents).max_abs;
}

TEST(IpAdapterPipeline, ScaleZeroIsThePlainPipeline) {
  Img2ImgRequest plain = test::request_for_case(base_case());
  Img2ImgRequest req = plain;
  req.ip_adapters.push_back(unit_for_case(base_case()));
  const Img2ImgResult without = run(plain);
  EXPECT_GT(diff(run(req), without), 1e-2);  // the image prompt matters
  req.ip_adapters[0].scale = 0.f;
  EXPECT_EQ(diff(run(req), without), 0.0);
}

TEST(IpAdapterPipeline, WorksForTxt2ImgInpaintAndWithControlNet) {
  // txt2img and 4-channel inpainting from cases.json, with the base case's unit: every step runs and the
  // picture differs from the one without the unit.
  for (const char* id : {"sd15_inpaint4ch_legacy_DDIM_s1.0", "sd15_img2img_DDIM_s1.0"}) {
    SCOPED_TRACE(id);
    Img2ImgRequest plain = test::request_for_case(test::find_case("pipelines", id));
    Img2ImgRequest req = plain;
    req.ip_adapters.push_back(unit_for_case(base_case()));
    const Img2ImgResult with = run(req), without = run(plain);
    EXPECT_EQ(with.step_latents.size(), 10u);
    EXPECT_GT(diff(with, without), 1e-2);
  }
  // With a ControlNet unit (the fixtures' Canny case): both steer, each changes the result.
  const auto& cn_case = test::find_case("pipelines", "sd15_controlnet_img2img_DDIM_s0.6");
  static const ControlNet net =
      load_controlnet(open_checkpoint(test::fixtures_dir() / "models" / "tiny-controlnet-sd15"));
  Img2ImgRequest cn = test::request_for_case(cn_case);
  ControlUnit unit;
  unit.model = &net;
  unit.name = "tiny-controlnet-sd15";
  const Image control = read_image(test::fixtures_dir() / "cases" / "inputs" /
                                   cn_case.at("input_images").at("control_image").get<std::string>());
  unit.image = control_image_tensor(prepare_control_image(control, control.width, control.height));
  unit.weight = 0.8;
  cn.controls.push_back(unit);
  Img2ImgRequest cn_ip = cn;
  cn_ip.ip_adapters.push_back(unit_for_case(base_case()));
  Img2ImgRequest ip_only = cn_ip;
  ip_only.controls.clear();
  const Img2ImgResult both = run(cn_ip);
  EXPECT_GT(diff(both, run(cn)), 1e-2);
  EXPECT_GT(diff(both, run(ip_only)), 1e-2);

  Img2ImgRequest t2i;
  t2i.width = t2i.height = 64;
  t2i.steps = 4;
  t2i.prompt = "a cat";
  t2i.cfg_scale = 7.5;
  Img2ImgRequest with = t2i;
  with.ip_adapters.push_back(unit_for_case(base_case()));
  EXPECT_GT(diff(run(with), run(t2i)), 1e-2);
}

TEST(IpAdapterPipeline, RejectsTokensWithoutTheUnconditionalHalf) {
  Img2ImgRequest req = test::request_for_case(base_case());
  req.ip_adapters.push_back(unit_for_case(base_case()));
  req.ip_adapters[0].negative = Tensor();
  const std::string e = test::error_of([&] { run(req); });
  EXPECT_NE(
      e.find("IP-Adapter ip-adapter_sd15.safetensors: the unconditional image tokens must have the shape"),
      std::string::npos)
      << e;
}

TEST(IpAdapterLayers, ModesAndExplicitLayers) {
  const std::vector<std::string>& names = model().unet.transformer_block_names();
  auto on = [&](const std::vector<float>& scales) {
    std::vector<std::string> out;
    for (size_t i = 0; i < names.size(); ++i)
      if (scales[i] != 0.f) out.push_back(names[i].substr(0, names[i].find(".transformer_blocks")));
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_TRUE(ip_adapter_mode_layers("all", false).empty());
  EXPECT_EQ(on(ip_adapter_layer_scales(ip_adapter_mode_layers("style", false), names)),
            (V{"up_blocks.1.attentions.0", "up_blocks.1.attentions.1", "up_blocks.1.attentions.2"}));
  EXPECT_EQ(on(ip_adapter_layer_scales(ip_adapter_mode_layers("composition", false), names)),
            (V{"down_blocks.2.attentions.0", "down_blocks.2.attentions.1"}));
  EXPECT_EQ(on(ip_adapter_layer_scales(ip_adapter_mode_layers("style+composition", false), names)),
            (V{"down_blocks.2.attentions.0", "down_blocks.2.attentions.1", "mid_block.attentions.0",
               "up_blocks.1.attentions.0", "up_blocks.1.attentions.1", "up_blocks.1.attentions.2"}));
  const auto sdxl = ip_adapter_mode_layers("style+composition", true);
  ASSERT_EQ(sdxl.size(), 2u);
  EXPECT_EQ(sdxl[0].name, "up_blocks.0.attentions.1");
  EXPECT_EQ(sdxl[1].name, "down_blocks.2.attentions.1");
  EXPECT_NE(test::error_of([] {
              ip_adapter_mode_layers("layout", false);
            }).find("ip_adapter_mode must be all, style, composition or style+composition, got layout"),
            std::string::npos);

  // The most specific entry wins; unlisted layers are 0.
  const std::vector<float> s =
      ip_adapter_layer_scales({{"up_blocks", 0.5}, {"up_blocks.1.attentions.1", 2.0}}, names);
  for (size_t i = 0; i < names.size(); ++i) {
    const float want = names[i].rfind("up_blocks.1.attentions.1.", 0) == 0 ? 2.f
                       : names[i].rfind("up_blocks.", 0) == 0              ? 0.5f
                                                                           : 0.f;
    EXPECT_EQ(s[i], want) << names[i];
  }
  // A prefix must end at a '.': "up_blocks.1.attentions.1" does not cover "up_blocks.1.attentions.10".
  const std::string e = test::error_of([&] { ip_adapter_layer_scales({{"up_blocks.1.att", 1.0}}, names); });
  EXPECT_NE(e.find("ip_adapter_layers: up_blocks.1.att names no attention layer of the model (it has "
                   "down_blocks.0.attentions.0, "),
            std::string::npos)
      << e;
  EXPECT_NE(test::error_of([&] {
              ip_adapter_layer_scales({{"up_blocks.0", 1.0}}, names);
            }).find("names no attention"),
            std::string::npos);
}

}  // namespace
}  // namespace i2i

// ---- parameters text ----------------------------------------------------------------------------------

namespace i2i {
namespace {

TEST(IpAdapterInfotext, UnitsFollowTheControlNetUnitsAndReadBack) {
  GenerationParams p;
  p.prompt = "a cat";
  ControlParams c;
  c.image = "/tmp/edges.png";
  c.model = "/m/control_canny.safetensors";
  c.preprocess = "canny";
  p.controls.push_back(c);
  IpAdapterParams a;
  a.model = "/m/ip-adapter_sd15.safetensors";
  a.image = "/img/style one.png";
  a.scale = 0.7;
  a.mode = "style";
  a.image_encoder = "/m/image_encoder";
  a.module = "ip-adapter_clip_sd15";
  IpAdapterParams b;
  b.model = "/m/ip-adapter-plus_sd15.safetensors";
  b.image = "/img/b.png";
  b.layers = "up_blocks.1.attentions.1=1,mid_block=0.5";
  p.ip_adapters = {a, b};
  // By default (issue 17) no path: the adapters by name only, no picture or encoder.
  const std::string shared = format_parameters(make_infotext(p, 1, 64, 64, 0, {true, false}));
  EXPECT_EQ(shared.find('/'), std::string::npos) << shared;
  EXPECT_NE(shared.find("ControlNet 1 IP-Adapter mode: style"), std::string::npos) << shared;
  p.infotext_paths = true;
  const std::string text = format_parameters(make_infotext(p, 1, 64, 64, 0, {true, false}));
  EXPECT_NE(text.find("ControlNet 0: \"Module: canny, Model: control_canny, Weight: 1,"), std::string::npos)
      << text;
  EXPECT_NE(
      text.find(
          "ControlNet 1: \"Module: ip-adapter_clip_sd15, Model: ip-adapter_sd15, Weight: 0.7, Resize "
          "Mode: Just Resize, Low Vram: False, Guidance Start: 0, Guidance End: 1, Pixel Perfect: False, "
          "Control Mode: Balanced\""),
      std::string::npos)
      << text;
  EXPECT_NE(
      text.find("ControlNet 2: \"Module: ip-adapter_clip_sd15, Model: ip-adapter-plus_sd15, Weight: 1,"),
      std::string::npos)
      << text;
  EXPECT_NE(text.find("ControlNet 1 image: /img/style one.png"), std::string::npos) << text;
  EXPECT_NE(text.find("ControlNet 1 image encoder: /m/image_encoder"), std::string::npos) << text;
  EXPECT_NE(text.find("ControlNet 1 IP-Adapter mode: style"), std::string::npos) << text;
  EXPECT_NE(text.find("ControlNet 2 IP-Adapter layers: \"up_blocks.1.attentions.1=1,mid_block=0.5\""),
            std::string::npos)
      << text;

  GenerationParams back;
  apply_infotext(parse_parameters(text), back);
  ASSERT_EQ(back.controls.size(), 1u);
  EXPECT_EQ(back.controls[0].model, c.model);
  EXPECT_EQ(back.controls[0].preprocess, "canny");
  ASSERT_EQ(back.ip_adapters.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    const IpAdapterParams &want = p.ip_adapters[i], &got = back.ip_adapters[i];
    EXPECT_EQ(got.model, want.model);
    EXPECT_EQ(got.image, want.image);
    EXPECT_EQ(got.scale, want.scale);
    EXPECT_EQ(got.mode, want.mode);
    EXPECT_EQ(got.layers, want.layers);
    EXPECT_EQ(got.image_encoder, want.image_encoder);
    EXPECT_EQ(got.module, "ip-adapter_clip_sd15");
  }
  EXPECT_NO_THROW(back.validate());
}

TEST(IpAdapterInfotext, UnitsAreDispatchedOnTheirModuleInAnyOrder) {
  // The extension may write an IP-Adapter unit before a ControlNet unit: each goes where its Module says.
  GenerationParameters g;
  g.prompt = "x";
  g.set("Steps", "10");
  g.set("ControlNet 0",
        "Module: ip-adapter_clip_sdxl_plus_vith, Model: ip-adapter-plus_sdxl_vit-h, Weight: 0.6");
  g.set("ControlNet 1", "Module: none, Model: control_depth, Weight: 0.5");
  g.set("ControlNet 0 model path", "/a/ip-adapter-plus_sdxl_vit-h.safetensors");
  g.set("ControlNet 1 model path", "/a/control_depth.safetensors");
  GenerationParams p;
  apply_infotext(g, p);
  ASSERT_EQ(p.ip_adapters.size(), 1u);
  ASSERT_EQ(p.controls.size(), 1u);
  EXPECT_EQ(p.ip_adapters[0].model, "/a/ip-adapter-plus_sdxl_vit-h.safetensors");
  EXPECT_EQ(p.ip_adapters[0].scale, 0.6);
  EXPECT_EQ(p.controls[0].model, "/a/control_depth.safetensors");
  EXPECT_EQ(p.controls[0].weight, 0.5);
}

TEST(IpAdapterParams, ValidationNamesTheParameter) {
  auto error = [](const std::function<void(IpAdapterParams&)>& change) {
    GenerationParams p;
    IpAdapterParams u;
    u.model = "a.safetensors";
    change(u);
    p.ip_adapters.push_back(u);
    return test::error_of([&] { p.validate(); });
  };
  EXPECT_EQ(error([](IpAdapterParams&) {}), "(no error)");
  EXPECT_NE(
      error([](IpAdapterParams& u) { u.model.clear(); }).find("IP-Adapter 0: no adapter file (ip_adapter)"),
      std::string::npos);
  EXPECT_NE(error([](IpAdapterParams& u) {
              u.scale = -1;
            }).find("ip_adapter_scale must be between 0 and 10, got -1"),
            std::string::npos);
  EXPECT_NE(error([](IpAdapterParams& u) { u.mode = "layout"; }).find("ip_adapter_mode must be all, style"),
            std::string::npos);
  EXPECT_NE(
      error([](IpAdapterParams& u) { u.layers = "up_blocks"; }).find("ip_adapter_layers expects NAME=SCALE"),
      std::string::npos);
  EXPECT_NE(error([](IpAdapterParams& u) {
              u.layers = "up_blocks=x";
            }).find("ip_adapter_layers: the scale of up_blocks must be a number, got 'x'"),
            std::string::npos);
  EXPECT_NE(error([](IpAdapterParams& u) {
              u.layers = "up_blocks=1";
              u.mode = "style";
            }).find("give ip_adapter_mode or ip_adapter_layers, not both"),
            std::string::npos);
  const auto layers = parse_ip_adapter_layers(" up_blocks.1 = 1 , mid_block=0.5");
  ASSERT_EQ(layers.size(), 2u);
  EXPECT_EQ(layers[0].name, "up_blocks.1");
  EXPECT_EQ(layers[1].scale, 0.5);
  EXPECT_EQ(format_ip_adapter_layers(layers), "up_blocks.1=1,mid_block=0.5");
}

}  // namespace
}  // namespace i2i
