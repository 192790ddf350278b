// The UNet conditioning bundle (unet_conditioning.h) on the fixture models: a bundle forward equals the
// old-signature forward bit for bit (fp32 and bf16, with and without ControlNet residuals); a UNetHook sees
// every transformer block's self-attention input and every block layer's output under its diffusers name and
// shape, a hook that changes nothing keeps every bit and one that changes something changes the output;
// SDXL added conditions and IP-Adapter tokens without layers for them are one-line i2i::Errors.
#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <map>
#include <memory>

#include "core/error.h"
#include "kernels/ops.h"
#include "kernels/precision.h"
#include "models/controlnet_load.h"
#include "models/unet_load.h"
#include "support/fixtures.h"

namespace i2i {
namespace {

using test::models_dir;

const UNet2DCondition& unet(const std::string& model, Precision precision = Precision::F32) {
  static std::map<std::string, std::unique_ptr<UNet2DCondition>> cache;
  auto& slot = cache[model + (precision == Precision::F32 ? "/f32" : "/bf16")];
  if (!slot) slot = std::make_unique<UNet2DCondition>(load_unet_diffusers(models_dir() / model, precision));
  return *slot;
}

const ControlNet& controlnet() {
  static const ControlNet net = load_controlnet_diffusers(models_dir() / "tiny-controlnet-sd15");
  return net;
}

::testing::AssertionResult same_bits(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype())
    return ::testing::AssertionFailure() << shape_str(a.shape()) << " vs " << shape_str(b.shape());
  if (std::memcmp(a.raw(), b.raw(), a.nbytes()) != 0)
    return ::testing::AssertionFailure() << "bits differ, max |a - b| = " << test::max_abs_diff(a, b).max_abs;
  return ::testing::AssertionSuccess();
}

// Fixed inputs for a UNet of `net`'s config: batch 2 (two timesteps), a 16x16 latent, 7 context tokens.
struct Inputs {
  Tensor sample, context;
  std::vector<float> t = {500.f, 20.f};
  UNetConditioning cond() const {
    UNetConditioning c;
    c.context = context;
    return c;
  }
};
Inputs inputs(const UNet2DCondition& net, int64_t size = 16) {
  const UNetConfig& c = net.config();
  return {test::random_uniform({2, size, size, c.in_channels}, 11),
          test::random_uniform({2, 7, c.cross_attention_dim}, 12)};
}

// Records what it sees; optionally returns its inputs (identity) or other tensors.
class RecordingHook : public UNetHook {
 public:
  std::vector<std::pair<std::string, Shape>> attn_inputs, block_outputs;
  std::function<Tensor(const std::string&, const Tensor&)> on_attn, on_block;

  Tensor self_attention_input(const std::string& name, const Tensor& input) override {
    attn_inputs.emplace_back(name, input.shape());
    return on_attn ? on_attn(name, input) : Tensor();
  }
  Tensor block_output(const std::string& name, const Tensor& output) override {
    block_outputs.emplace_back(name, output.shape());
    return on_block ? on_block(name, output) : Tensor();
  }
};

// ---- the bundle is the old forward --------------------------------------------------------------------

TEST(UNetConditioning, BundleForwardIsTheOldForwardBitForBit) {
  for (Precision p : {Precision::F32, Precision::BF16}) {
    SCOPED_TRACE(p == Precision::F32 ? "f32" : "bf16");
    const UNet2DCondition& net = unet("tiny-sd15", p);
    const Inputs in = inputs(net);
    EXPECT_TRUE(same_bits(net.forward(in.sample, in.t, in.cond()), net.forward(in.sample, in.t, in.context)));

    UNetResiduals res;
    uint32_t seed = 100;
    for (const Shape& s : net.skip_shapes(2, 16, 16)) res.down.push_back(test::random_uniform(s, ++seed));
    res.mid = test::random_uniform(net.skip_shapes(2, 16, 16).back(), ++seed);
    UNetConditioning with_res = in.cond();
    with_res.residuals = res;
    const Tensor old_res = net.forward(in.sample, in.t, in.context, &res);
    EXPECT_TRUE(same_bits(net.forward(in.sample, in.t, with_res), old_res));

    // A hook that returns nothing is the plain pass too.
    RecordingHook hook;
    with_res.hook = &hook;
    EXPECT_TRUE(same_bits(net.forward(in.sample, in.t, with_res), old_res));
    EXPECT_FALSE(hook.attn_inputs.empty());
  }
}

TEST(UNetConditioning, ControlNetBundleForwardIsTheOldForwardAndLeavesTheUNetFieldsOut) {
  const ControlNet& cn = controlnet();
  const Inputs in = inputs(unet("tiny-sd15"));
  const Tensor control = test::random_uniform({2, 128, 128, 3}, 13, 0.f, 1.f);
  const UNetResiduals want = cn.forward(in.sample, in.t, in.context, control, 0.7f);
  RecordingHook hook;
  UNetConditioning cond = in.cond();
  cond.hook = &hook;      // the UNet's, not the ControlNet's
  cond.residuals = want;  // residuals do not apply to a ControlNet
  cond.image_prompts.push_back({nullptr, Tensor::zeros({2, 4, 16}), {}, 1.f});  // the UNet's only (diffusers)
  const UNetResiduals got = cn.forward(in.sample, in.t, cond, control, 0.7f);
  ASSERT_EQ(got.down.size(), want.down.size());
  for (size_t i = 0; i < got.down.size(); ++i) EXPECT_TRUE(same_bits(got.down[i], want.down[i])) << i;
  EXPECT_TRUE(same_bits(got.mid, want.mid));
  EXPECT_TRUE(hook.attn_inputs.empty());
  EXPECT_TRUE(hook.block_outputs.empty());
}

// ---- the hook -----------------------------------------------------------------------------------------

// The diffusers names and shapes of the self-attention inputs (attn1) and block layer outputs of a UNet of
// config `c` on an s x s latent, derived from the config alone, in forward order.
struct Expected {
  std::vector<std::pair<std::string, Shape>> attn_inputs, block_outputs;
};
Expected expected(const UNetConfig& c, int64_t batch, int64_t s) {
  Expected e;
  const int n = c.levels();
  auto level = [&](const std::string& block, int lv, int layers) {
    const int64_t side = s >> lv, ch = c.block_out_channels[lv];
    for (int j = 0; j < layers; ++j) {
      const std::string layer =
          block + (c.cross_attention[lv] ? "attentions." : "resnets.") + std::to_string(j);
      e.block_outputs.emplace_back(layer, Shape{batch, side, side, ch});
      for (int k = 0; c.cross_attention[lv] && k < c.transformer_depth[lv]; ++k)
        e.attn_inputs.emplace_back(layer + ".transformer_blocks." + std::to_string(k) + ".attn1",
                                   Shape{batch, side * side, ch});
    }
  };
  for (int i = 0; i < n; ++i) level("down_blocks." + std::to_string(i) + ".", i, c.layers_per_block);
  const int64_t side = s >> (n - 1), ch = c.block_out_channels[n - 1];
  for (int k = 0; k < c.mid_transformer_depth; ++k)
    e.attn_inputs.emplace_back("mid_block.attentions.0.transformer_blocks." + std::to_string(k) + ".attn1",
                               Shape{batch, side * side, ch});
  e.block_outputs.emplace_back("mid_block", Shape{batch, side, side, ch});
  for (int i = 0; i < n; ++i)
    level("up_blocks." + std::to_string(i) + ".", n - 1 - i, c.layers_per_block + 1);
  return e;
}

TEST(UNetConditioning, HookSeesEveryTransformerBlockAndBlockLayer) {
  for (const char* model : {"tiny-sd15", "tiny-sd2v"}) {
    SCOPED_TRACE(model);
    const UNet2DCondition& net = unet(model);
    const Inputs in = inputs(net);
    RecordingHook hook;
    UNetConditioning cond = in.cond();
    cond.hook = &hook;
    net.forward(in.sample, in.t, cond);

    const Expected want = expected(net.config(), 2, 16);
    EXPECT_EQ(hook.attn_inputs, want.attn_inputs);
    EXPECT_EQ(hook.block_outputs, want.block_outputs);
    EXPECT_EQ(hook.attn_inputs.size(), 16u);  // 3 down levels x 2 + mid + 3 up levels x 3, depth 1
    std::vector<std::string> names;
    for (const auto& [name, shape] : hook.attn_inputs) names.push_back(name.substr(0, name.size() - 6));
    EXPECT_EQ(names, net.transformer_block_names());  // ".attn1" off: the order of layer_scales
  }
}

// [B, T, C] a and b concatenated along the tokens: [B, Ta + Tb, C].
Tensor concat_tokens(const Tensor& a, const Tensor& b) {
  const int64_t batch = a.dim(0), c = a.dim(2), ta = a.dim(1), tb = b.dim(1);
  Tensor out = Tensor::empty({batch, ta + tb, c});
  for (int64_t i = 0; i < batch; ++i) {
    std::memcpy(out.data<float>() + i * (ta + tb) * c, a.data<float>() + i * ta * c, ta * c * sizeof(float));
    std::memcpy(out.data<float>() + (i * (ta + tb) + ta) * c, b.data<float>() + i * tb * c,
                tb * c * sizeof(float));
  }
  return out;
}

TEST(UNetConditioning, IdentityHookKeepsEveryBitAndReplacementsChangeTheOutput) {
  const UNet2DCondition& net = unet("tiny-sd15");
  const Inputs in = inputs(net);
  const Tensor plain = net.forward(in.sample, in.t, in.context);
  auto run = [&](RecordingHook& hook) {
    UNetConditioning cond = in.cond();
    cond.hook = &hook;
    return net.forward(in.sample, in.t, cond);
  };
  auto same = [](const std::string&, const Tensor& x) { return x; };

  RecordingHook identity;
  identity.on_attn = same;
  identity.on_block = same;
  EXPECT_TRUE(same_bits(run(identity), plain));

  RecordingHook scale_mid;  // AdaIN-like: one block output rescaled
  scale_mid.on_block = [](const std::string& name, const Tensor& x) {
    return name == "mid_block" ? ops::scale(x, 1.5f) : Tensor();
  };
  EXPECT_GT(test::max_abs_diff(run(scale_mid), plain).max_abs, 1e-2);

  RecordingHook scale_kv;  // other keys and values for one self-attention
  scale_kv.on_attn = [](const std::string& name, const Tensor& x) {
    return name == "down_blocks.1.attentions.0.transformer_blocks.0.attn1" ? ops::scale(x, 3.f) : Tensor();
  };
  EXPECT_GT(test::max_abs_diff(run(scale_kv), plain).max_abs, 1e-2);

  // Reference-only's shape, [B, 2T, C]: keys and values from the input twice attend like the input once (the
  // same softmax weights, halved, on each copy; measured 3.5e-6 apart, float32 rounding), while a second,
  // different half changes the result (by 1.4; the replacements above by 0.13 and 1.3).
  RecordingHook doubled;
  doubled.on_attn = [](const std::string&, const Tensor& x) { return concat_tokens(x, x); };
  EXPECT_TRUE(test::all_close(run(doubled), plain, 1e-4, "doubled keys / values"));
  RecordingHook reference;
  reference.on_attn = [](const std::string&, const Tensor& x) {
    return concat_tokens(x, ops::scale(x, -1.f));
  };
  EXPECT_GT(test::max_abs_diff(run(reference), plain).max_abs, 1e-2);
}

TEST(UNetConditioning, HookReplacementsOfTheWrongShapeAreNamed) {
  const UNet2DCondition& net = unet("tiny-sd15");
  const Inputs in = inputs(net, 8);
  UNetConditioning cond = in.cond();
  RecordingHook hook;
  cond.hook = &hook;
  hook.on_block = [](const std::string&, const Tensor& x) { return x.slice0(0, 1); };
  EXPECT_NE(test::error_of([&] {
              net.forward(in.sample, in.t, cond);
            }).find("output of down_blocks.0.attentions.0"),
            std::string::npos);
  hook.on_block = nullptr;
  hook.on_attn = [](const std::string&, const Tensor& x) { return x.reshape({-1, x.dim(2)}); };
  EXPECT_NE(test::error_of([&] {
              net.forward(in.sample, in.t, cond);
            }).find("self-attention input of down_blocks.0.attentions.0.transformer_blocks.0.attn1"),
            std::string::npos);
}

// ---- fields without layers ----------------------------------------------------------------------------

void expect_one_line_error(const std::function<void()>& f, const std::string& part) {
  const std::string e = test::error_of(f);
  EXPECT_NE(e.find(part), std::string::npos) << e;
  EXPECT_EQ(e.find('\n'), std::string::npos) << e;
}

TEST(UNetConditioning, RejectsSdxlAndIpAdapterFieldsWithoutLayers) {
  const UNet2DCondition& net = unet("tiny-sd15");
  const Inputs in = inputs(net, 8);
  UNetConditioning sdxl = in.cond();
  sdxl.text_embeds = Tensor::zeros({2, 32});
  expect_one_line_error([&] { net.forward(in.sample, in.t, sdxl); },
                        "UNet: text_embeds / time_ids given, but this UNet has no added-embedding layers");
  const Tensor control = Tensor::zeros({2, 64, 64, 3});
  expect_one_line_error(
      [&] { controlnet().forward(in.sample, in.t, sdxl, control); },
      "ControlNet: text_embeds / time_ids given, but this ControlNet has no added-embedding");
  sdxl.text_embeds = Tensor();
  sdxl.time_ids = Tensor::zeros({2, 6});
  expect_one_line_error([&] { net.forward(in.sample, in.t, sdxl); }, "no added-embedding layers");

  UNetConditioning ip = in.cond();
  ip.image_prompts.push_back({nullptr, Tensor::zeros({2, 4, 16}), {}, 1.f});
  expect_one_line_error([&] { net.forward(in.sample, in.t, ip); },
                        "UNet: image prompt 0 has no IP-Adapter (to_k_ip / to_v_ip layers)");
}

}  // namespace
}  // namespace i2i
