// IP-Adapter attention in the UNet (models/ip_adapter_attention.h, ImagePrompt in unet_conditioning.h)
// against the fixtures' `unet` group of cases/ip_adapter.json (diffusers 0.27.2 IPAdapterAttnProcessor):
// tiny-sd15 with the base and plus adapters (original h94 layout; tokens through the adapter's projection) at
// scales 1.0, 0.5, 0.0 and per-layer scales, the tiny-sd15 UNet from its diffusers folder and its single
// file; the key numbering; several units adding up; scale 0 giving the plain UNet bit for bit; and the
// loader's one-line errors.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <functional>

#include "core/error.h"
#include "models/ip_adapter_attention.h"
#include "models/ip_image_projection.h"
#include "models/ldm_keys.h"
#include "models/model_config.h"
#include "models/unet_load.h"
#include "support/fixtures.h"

namespace i2i {
namespace {
namespace fs = std::filesystem;

// README "Tolerances": IP-Adapter UNet outputs differ by up to 4.1e-6 between float32 and float64; 1e-4
// as the other UNet tests (a wrong layer map or scale moves outputs by 1e-2 or more).
constexpr double kUNetTol = 1e-4;
const char* const kIndex = "ip_adapter.json";

const UNet2DCondition& unet(test::Source source) {
  return test::cached_model<UNet2DCondition>("tiny-sd15", source, [](const std::string& m, test::Source s) {
    if (s == test::Source::Diffusers) return load_unet_diffusers(test::models_dir() / m);
    nlohmann::json config = read_config_json(test::models_dir() / (m + ".json")).at("unet");
    return load_unet_single_file(test::single_file(m, s), &config);
  });
}

fs::path adapter_file(const std::string& rel) {
  return test::fixtures_dir() / "models" / "tiny-ip-adapter" / rel;
}
Weights adapter_weights(const fs::path& file) {
  return weights_from_safetensors(SafeTensors::open(file));
}
std::string sd15_adapter(const std::string& variant) {
  return variant == "base" ? "models/ip-adapter_sd15.safetensors" : "models/ip-adapter-plus_sd15.safetensors";
}

Tensor ref(const nlohmann::json& r) {
  return test::index_tensors(kIndex).get(r.at("key").get<std::string>()).to(DType::F32);
}

// The image tokens of a unet case: its added_cond_kwargs.image_embeds[0] ([2, 1, E] base, [2, 1, 257, W]
// plus) through the adapter file's projection.
Tensor case_tokens(const nlohmann::json& c) {
  const std::string variant = c.at("ip_variant");
  static std::map<std::string, IpImageProjection> projections;
  if (!projections.count(variant))
    projections[variant] = load_ip_image_projection(adapter_file(sd15_adapter(variant)));
  Tensor embeds = ref(c.at("inputs").at("added_cond_kwargs.image_embeds[0]"));
  Shape s = embeds.shape();
  s.erase(s.begin() + 1);  // the per-adapter image axis
  return projections[variant](embeds.reshape(s));
}

// The case's per-layer scales ("<block>.attn2": s) in the UNet's forward order.
std::vector<float> layer_scales(const UNet2DCondition& net, const nlohmann::json& c) {
  std::vector<float> out;
  const auto& scales = c.at("per_layer_scales");
  EXPECT_EQ(scales.size(), net.transformer_block_names().size());
  for (const std::string& name : net.transformer_block_names()) out.push_back(scales.at(name + ".attn2"));
  return out;
}

const IpAdapterAttention& adapter(const std::string& variant) {
  static std::map<std::string, std::unique_ptr<IpAdapterAttention>> cache;
  auto& slot = cache[variant];
  if (!slot)
    slot = std::make_unique<IpAdapterAttention>(adapter_weights(adapter_file(sd15_adapter(variant))),
                                                unet(test::Source::Diffusers), "tiny-sd15", Precision::F32);
  return *slot;
}

class IpAdapterUNetCases : public ::testing::TestWithParam<test::Source> {};

TEST_P(IpAdapterUNetCases, MatchesEveryTinySd15Case) {
  const UNet2DCondition& net = unet(GetParam());
  int cases = 0;
  for (const auto& c : test::index_json(kIndex).at("groups").at("unet").at("cases")) {
    if (c.at("model") != "tiny-sd15") continue;
    const std::string id = c.at("id");
    SCOPED_TRACE(id);
    const auto& in = c.at("inputs");
    UNetConditioning cond;
    cond.context = ref(in.at("encoder_hidden_states"));
    cond.image_prompts.push_back({&adapter(c.at("ip_variant")), case_tokens(c), layer_scales(net, c), 1.f});
    const std::vector<float> t = ref(in.at("timestep")).to_vector();
    const Tensor out = net.forward(nchw_to_nhwc(ref(in.at("sample"))), t, cond);
    EXPECT_TRUE(test::all_close(out, nchw_to_nhwc(ref(c.at("outputs").at("sample"))), kUNetTol, id));
    ++cases;
  }
  EXPECT_EQ(cases, 10);
}

INSTANTIATE_TEST_SUITE_P(TinySd15, IpAdapterUNetCases,
                         ::testing::Values(test::Source::Diffusers, test::Source::SingleFp32),
                         [](const auto& info) { return std::string(test::source_name(info.param)); });

// tiny-sdxl with the SDXL adapters (sdxl_models/, ViT-H image embeds): the UNet also takes the pooled
// text_embeds and time ids of the cases.
const UNet2DCondition& sdxl_unet(test::Source source) {
  return test::cached_model<UNet2DCondition>("tiny-sdxl", source, [](const std::string& m, test::Source s) {
    if (s == test::Source::Diffusers) return load_unet_diffusers(test::models_dir() / m);
    nlohmann::json config = read_config_json(test::models_dir() / (m + ".json")).at("unet");
    return load_unet_single_file(test::single_file(m, s), &config);
  });
}

TEST(IpAdapterUNet, MatchesEveryTinySdxlCase) {
  auto file = [](const std::string& variant) {
    return adapter_file(variant == "base" ? "sdxl_models/ip-adapter_sdxl_vit-h.safetensors"
                                          : "sdxl_models/ip-adapter-plus_sdxl_vit-h.safetensors");
  };
  for (test::Source source : {test::Source::Diffusers, test::Source::SingleFp16}) {
    SCOPED_TRACE(test::source_name(source));
    const UNet2DCondition& net = sdxl_unet(source);
    std::map<std::string, std::unique_ptr<IpAdapterAttention>> adapters;
    std::map<std::string, IpImageProjection> projections;
    int cases = 0;
    for (const auto& c : test::index_json(kIndex).at("groups").at("unet").at("cases")) {
      if (c.at("model") != "tiny-sdxl") continue;
      const std::string id = c.at("id"), variant = c.at("ip_variant");
      SCOPED_TRACE(id);
      if (!adapters.count(variant)) {
        adapters[variant] = std::make_unique<IpAdapterAttention>(adapter_weights(file(variant)), net,
                                                                 "tiny-sdxl", Precision::F32);
        projections[variant] = load_ip_image_projection(file(variant));
      }
      const auto& in = c.at("inputs");
      Tensor embeds = ref(in.at("added_cond_kwargs.image_embeds[0]"));
      Shape shape = embeds.shape();
      shape.erase(shape.begin() + 1);
      UNetConditioning cond;
      cond.context = ref(in.at("encoder_hidden_states"));
      cond.text_embeds = ref(in.at("added_cond_kwargs.text_embeds"));
      cond.time_ids = ref(in.at("added_cond_kwargs.time_ids"));
      cond.image_prompts.push_back(
          {adapters[variant].get(), projections[variant](embeds.reshape(shape)), layer_scales(net, c), 1.f});
      const Tensor out =
          net.forward(nchw_to_nhwc(ref(in.at("sample"))), ref(in.at("timestep")).to_vector(), cond);
      EXPECT_TRUE(test::all_close(out, nchw_to_nhwc(ref(c.at("outputs").at("sample"))), kUNetTol, id));
      ++cases;
    }
    EXPECT_EQ(cases, 10);
  }
}

TEST(IpAdapterUNet, KeyNumbersFollowDiffusersAttnProcessorsOrder) {
  const UNet2DCondition& net = unet(test::Source::Diffusers);
  // The sidecar maps every N to its diffusers layer; i2i's forward order is down, mid, up.
  const auto sidecar = read_config_json(test::models_dir() / "tiny-ip-adapter.json");
  std::map<std::string, int> want;
  for (const auto& l : sidecar.at("adapters").at("tiny-sd15/base").at("ip_attention_layers"))
    want[l.at("diffusers").get<std::string>()] = l.at("key_id");
  const std::vector<int> ids = ip_adapter_key_ids(net.transformer_block_names());
  ASSERT_EQ(ids.size(), want.size());
  for (size_t i = 0; i < ids.size(); ++i)
    EXPECT_EQ(ids[i], want.at(net.transformer_block_names()[i] + ".attn2"))
        << net.transformer_block_names()[i];
  EXPECT_EQ(ids.back(), 29);  // up_blocks.3.attentions.2 is last in forward order, the mid block (31) is not
}

struct Fixed {
  Tensor sample, context, tokens;
  std::vector<float> t = {500.f, 500.f};
};
Fixed fixed_inputs() {
  const auto& c = test::find_index_case(kIndex, "unet", "tiny-sd15/plus/t500/scale1.0");
  return {nchw_to_nhwc(ref(c.at("inputs").at("sample"))), ref(c.at("inputs").at("encoder_hidden_states")),
          case_tokens(c)};
}

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0;
}

TEST(IpAdapterUNet, ScaleZeroIsThePlainUNetBitForBit) {
  const UNet2DCondition& net = unet(test::Source::Diffusers);
  const Fixed in = fixed_inputs();
  const Tensor plain = net.forward(in.sample, in.t, in.context);
  UNetConditioning cond;
  cond.context = in.context;
  cond.image_prompts.push_back({&adapter("plus"), in.tokens, {}, 0.f});
  EXPECT_TRUE(same_bits(net.forward(in.sample, in.t, cond), plain));
  cond.image_prompts[0].scale = 1.f;
  cond.image_prompts[0].layer_scales.assign(net.transformer_block_names().size(), 0.f);
  EXPECT_TRUE(same_bits(net.forward(in.sample, in.t, cond), plain));
  cond.image_prompts[0].layer_scales.back() = 1.f;  // one layer on: the output moves
  EXPECT_GT(test::max_abs_diff(net.forward(in.sample, in.t, cond), plain).max_abs, 1e-4);
}

TEST(IpAdapterUNet, UnitsAddTheirAttentionOutputs) {
  // Two units of scale 0.5 with the same adapter and tokens are one unit of scale 1 (to float32 round-off:
  // (a + 0.5 x) + 0.5 x is not rounded as a + x); a unit of another adapter changes the result.
  const UNet2DCondition& net = unet(test::Source::Diffusers);
  const Fixed in = fixed_inputs();
  UNetConditioning one;
  one.context = in.context;
  one.image_prompts.push_back({&adapter("plus"), in.tokens, {}, 1.f});
  const Tensor want = net.forward(in.sample, in.t, one);
  UNetConditioning two = one;
  two.image_prompts[0].scale = 0.5f;
  two.image_prompts.push_back(two.image_prompts[0]);
  EXPECT_LT(test::max_abs_diff(net.forward(in.sample, in.t, two), want).max_abs, 2e-5);
  const auto& base_case = test::find_index_case(kIndex, "unet", "tiny-sd15/base/t500/scale1.0");
  two.image_prompts[1] = {&adapter("base"), case_tokens(base_case), {}, 0.5f};
  EXPECT_GT(test::max_abs_diff(net.forward(in.sample, in.t, two), want).max_abs, 1e-3);
}

void expect_one_line_error(const std::function<void()>& f, const std::string& part) {
  const std::string e = test::error_of(f);
  EXPECT_NE(e.find(part), std::string::npos) << e;
  EXPECT_EQ(e.find('\n'), std::string::npos) << e;
}

TEST(IpAdapterUNet, RejectsBadImagePrompts) {
  const UNet2DCondition& net = unet(test::Source::Diffusers);
  const Fixed in = fixed_inputs();
  UNetConditioning cond;
  cond.context = in.context;
  cond.image_prompts.push_back({&adapter("plus"), in.tokens, {1.f, 1.f}, 1.f});
  expect_one_line_error([&] { net.forward(in.sample, in.t, cond); },
                        "UNet: image prompt 0: expected 16 layer scales (one per transformer block), got 2");
  cond.image_prompts[0].layer_scales.clear();
  cond.image_prompts[0].tokens = Tensor::zeros({1, 16, 16});
  expect_one_line_error([&] { net.forward(in.sample, in.t, cond); },
                        "UNet: image prompt 0 tokens must be float32 [2, N, 16], got [1, 16, 16]");
}

TEST(IpAdapterUNet, LoaderErrorsNameTheFileAndTheMismatch) {
  const UNet2DCondition& net = unet(test::Source::Diffusers);
  auto load = [&](const Weights& w) { IpAdapterAttention(w, net, "tiny-sd15", Precision::F32); };
  // An SDXL adapter on SD 1.5: another cross-attention width (and layer count).
  expect_one_line_error(
      [&] { load(adapter_weights(adapter_file("sdxl_models/ip-adapter_sdxl_vit-h.safetensors"))); },
      "ip-adapter_sdxl_vit-h.safetensors: the IP-Adapter is for a cross-attention width of");
  const Weights good = adapter_weights(adapter_file(sd15_adapter("base")));
  // A layer missing: the count does not match.
  expect_one_line_error(
      [&] {
        load(test::weights_without(test::weights_without(good, "ip_adapter.31.to_k_ip.weight"),
                                   "ip_adapter.31.to_v_ip.weight"));
      },
      "ip-adapter_sd15.safetensors: the IP-Adapter has 15 attention layers, the model tiny-sd15 "
      "has 16 cross-attention layers");
  // A layer of the wrong width.
  Weights wide = test::weights_without(good, "ip_adapter.13.to_k_ip.weight");
  wide.add("ip_adapter.13.to_k_ip.weight", Tensor::zeros({16, 16}));
  expect_one_line_error([&] { load(wide); },
                        "tensor 'ip_adapter.13.to_k_ip.weight' has shape [16, 16], the model "
                        "tiny-sd15's up_blocks.1.attentions.0.transformer_blocks.0.attn2 needs "
                        "[32, 16]");
  // Numbers that are not the UNet's (31 renamed 33).
  Weights renumbered = test::weights_without(test::weights_without(good, "ip_adapter.31.to_k_ip.weight"),
                                             "ip_adapter.31.to_v_ip.weight");
  renumbered.add("ip_adapter.33.to_k_ip.weight", good.get("ip_adapter.31.to_k_ip.weight"));
  renumbered.add("ip_adapter.33.to_v_ip.weight", good.get("ip_adapter.31.to_v_ip.weight"));
  expect_one_line_error([&] { load(renumbered); },
                        "missing tensor 'ip_adapter.31.to_k_ip.weight' (for "
                        "mid_block.attentions.0.transformer_blocks.0.attn2)");
  // A file that is no IP-Adapter (the UNet's own weights).
  expect_one_line_error(
      [&] {
        load(weights_from_safetensors(
            SafeTensors::open(test::single_file("tiny-sd15", test::Source::SingleFp32))));
      },
      "tiny-sd15.safetensors: not an IP-Adapter file");
  // A truncated file.
  const fs::path dir = test::temp_dir("ip_adapter_truncated");
  const fs::path cut = dir / "ip-adapter_sd15.safetensors";
  fs::copy_file(adapter_file(sd15_adapter("base")), cut);
  fs::resize_file(cut, fs::file_size(cut) - 100);
  expect_one_line_error([&] { adapter_weights(cut); }, "ip-adapter_sd15.safetensors");
}

}  // namespace
}  // namespace i2i
