// IP-Adapter image projections against the fixtures' `image_proj` group (cases/ip_adapter.json): base
// (ImageProjection) and plus (the Resampler, with its intermediates), for the SD 1.5 and the SDXL adapters,
// read from the original h94 files; and the image embeddings a pipeline feeds them (the `pipelines` cases'
// ip_image_embeds / ip_tokens), from the IP picture on disk through processor, encoder and projection.
#include <gtest/gtest.h>

#include <fstream>
#include <functional>

#include "core/error.h"
#include "io/image.h"
#include "io/safetensors.h"
#include "models/clip_vision_load.h"
#include "models/ip_image_embeds.h"
#include "models/ip_image_projection.h"
#include "support/fixtures.h"

namespace i2i {
namespace {

namespace fs = std::filesystem;

const std::string kIndex = "ip_adapter.json";

// Fixtures README: float32 vs float64 1.5e-6 for projection tokens (std ~1), 4.9e-6 for the encoder;
// 1e-4 is the single-stage acceptance.
constexpr double kAtol = 1e-4;

fs::path adapter_dir() {
  return test::fixtures_dir() / "models/tiny-ip-adapter";
}

Tensor ref(const nlohmann::json& r) {
  return test::index_tensors(kIndex).get(r.at("key").get<std::string>()).to(DType::F32);
}

const nlohmann::json& sidecar() {
  static const nlohmann::json j = [] {
    return nlohmann::json::parse(std::ifstream(test::fixtures_dir() / "models/tiny-ip-adapter.json"));
  }();
  return j;
}

// The adapter file of an image_proj case id ("tiny-sd15/plus").
fs::path adapter_file(const std::string& id) {
  return adapter_dir() / sidecar().at("adapters").at(id).at("file").get<std::string>();
}

const nlohmann::json& cases() {
  return test::index_json(kIndex).at("groups").at("image_proj").at("cases");
}

TEST(IpImageProjection, MatchesEveryCase) {
  ASSERT_EQ(cases().size(), 4u);
  for (const auto& c : cases()) {
    const std::string id = c.at("id");
    SCOPED_TRACE(id);
    const auto& meta = sidecar().at("adapters").at(id);
    const IpImageProjection p = load_ip_image_projection(adapter_file(id));
    const IpImageProjectionInfo& info = p.info();
    EXPECT_STREQ(ip_adapter_variant_name(info.variant), meta.at("variant").get<std::string>().c_str());
    EXPECT_EQ(info.cross_attention_dim, meta.at("cross_attention_dim").get<int64_t>());
    EXPECT_EQ(info.num_tokens, meta.at("num_tokens").get<int64_t>());
    EXPECT_EQ(info.encoder_width, 32);

    Tensor in = ref(c.at("inputs").at("image_embeds"));  // [2, 1, 32] or [2, 1, 257, 32]
    if (info.variant == IpAdapterVariant::Plus) {
      const auto& r = meta.at("resampler");
      EXPECT_EQ(info.heads, r.at("heads").get<int>());
      EXPECT_EQ(info.depth, r.at("depth").get<int>());
      EXPECT_EQ(info.resampler_width, r.at("hidden_dims").get<int64_t>());
      in = in.reshape({in.dim(0), in.dim(2), in.dim(3)});
    }
    const Tensor want = ref(c.at("outputs").at("ip_tokens"));  // [2, 1, N, D]
    ResamplerTrace trace;
    const Tensor got = p(in, &trace);
    EXPECT_TRUE(
        test::all_close(got, want.reshape({want.dim(0), want.dim(2), want.dim(3)}), kAtol, "ip_tokens"));
    if (info.variant == IpAdapterVariant::Plus) {
      const auto& im = c.at("intermediates");
      EXPECT_TRUE(test::all_close(trace.proj_in, ref(im.at("proj_in")), kAtol, "proj_in"));
      ASSERT_EQ(trace.after_attn.size(), 4u);
      for (size_t i = 0; i < 4; ++i) {
        const std::string l = "layers." + std::to_string(i);
        EXPECT_TRUE(test::all_close(trace.after_attn[i], ref(im.at(l + ".after_attn")), kAtol, l + " attn"));
        EXPECT_TRUE(test::all_close(trace.after_ff[i], ref(im.at(l + ".after_ff")), kAtol, l + " ff"));
      }
    }
  }
}

// The pipelines' image embeddings ([negative, positive], what diffusers passes as
// added_cond_kwargs['image_embeds'][0]) and tokens, from the IP picture file.
TEST(IpImageEmbeds, MatchEveryPipelineCase) {
  const ClipVisionEncoder encoder = load_clip_vision_folder(adapter_dir() / "models/image_encoder");
  const auto& pipes = test::index_json(kIndex).at("groups").at("pipelines").at("cases");
  ASSERT_EQ(pipes.size(), 13u);
  for (const auto& c : pipes) {
    SCOPED_TRACE(c.at("id").get<std::string>());
    const auto& ip = c.at("ip_adapter");
    const IpImageProjection p =
        load_ip_image_projection(test::fixtures_dir() / ip.at("weight_file").get<std::string>());
    ASSERT_STREQ(ip_adapter_variant_name(p.info().variant), ip.at("variant").get<std::string>().c_str());
    EXPECT_NO_THROW(p.check_encoder(encoder.config(), encoder.origin()));
    const Image picture =
        read_image(test::fixtures_dir() / c.at("input_images").at("ip_adapter_image").get<std::string>());
    const IpImageEmbeds e = encode_ip_image(encoder, p.info().variant, picture);

    Tensor want_embeds, want_tokens;
    for (const auto& [name, v] : c.at("outputs").items()) {
      if (name.rfind("ip_image_embeds", 0) == 0) want_embeds = ref(v);
      if (name.rfind("ip_tokens", 0) == 0) want_tokens = ref(v);
    }
    ASSERT_TRUE(want_embeds.defined() && want_tokens.defined());
    // With CFG [negative x n, positive x n], without (guidance 1) [positive x n]; n images per prompt.
    const auto& params = c.at("parameters");
    const bool cfg = params.at("guidance_scale").get<double>() > 1.0;
    const int64_t n = params.value("num_images_per_prompt", 1);
    ASSERT_EQ(want_embeds.dim(0), (cfg ? 2 : 1) * n);
    ASSERT_EQ(want_tokens.dim(0), want_embeds.dim(0));
    const Shape half(want_embeds.shape().begin() + 1, want_embeds.shape().end());
    const Tensor tokens = ip_image_tokens(p, e);  // [negative, positive]
    const Tensor want = want_tokens.reshape({want_tokens.dim(0), want_tokens.dim(2), want_tokens.dim(3)});
    for (int64_t i = 0; i < want_embeds.dim(0); ++i) {
      const bool positive = !cfg || i >= n;
      const std::string what = (positive ? "positive " : "negative ") + std::to_string(i);
      EXPECT_TRUE(
          test::all_close(positive ? e.positive : e.negative, want_embeds[i].reshape(half), kAtol, what));
      EXPECT_TRUE(test::all_close(tokens[positive ? 1 : 0], want[i], kAtol, what + " ip_tokens"));
    }
    if (p.info().variant == IpAdapterVariant::Base) {
      for (float v : e.negative.to_vector()) ASSERT_EQ(v, 0.f);  // zeros_like(image_embeds)
    }
  }
}

// ---- bad adapters: one line naming the file and the tensor or mismatch ----

// The adapter's tensors, edited, written to a scratch file.
fs::path edited_adapter(const std::string& id, const std::string& name,
                        const std::function<void(std::vector<std::pair<std::string, Tensor>>&)>& edit) {
  const SafeTensors st = SafeTensors::open(adapter_file(id));
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (const std::string& n : st.names()) tensors.emplace_back(n, st.get(n));
  edit(tensors);
  const fs::path p = test::temp_dir("ip_proj_" + name) / "adapter.safetensors";
  write_safetensors(p, tensors);
  return p;
}

void drop(std::vector<std::pair<std::string, Tensor>>& t, const std::string& prefix) {
  std::erase_if(t, [&](const auto& e) { return e.first.rfind(prefix, 0) == 0; });
}

void replace(std::vector<std::pair<std::string, Tensor>>& t, const std::string& name, Tensor v) {
  for (auto& e : t)
    if (e.first == name) e.second = std::move(v);
}

TEST(IpImageProjectionErrors, NoRecognisedProjection) {
  const fs::path p = edited_adapter("tiny-sd15/base", "none", [](auto& t) { drop(t, "image_proj."); });
  const std::string e = test::error_of([&] { load_ip_image_projection(p); });
  EXPECT_NE(
      e.find(p.string() + ": not an IP-Adapter base or plus image projection (image_proj tensors: none"),
      std::string::npos)
      << e;
  // An MLP projection (full-face adapters: image_proj.proj.0 ...) is named as unsupported.
  const fs::path q = edited_adapter("tiny-sd15/base", "mlp", [](auto& t) {
    drop(t, "image_proj.");
    t.emplace_back("image_proj.proj.0.weight", Tensor::zeros({32, 32}));
  });
  const std::string f = test::error_of([&] { load_ip_image_projection(q); });
  EXPECT_NE(f.find("image_proj tensors: image_proj.proj.0.weight; "), std::string::npos) << f;
}

TEST(IpImageProjectionErrors, BaseShapes) {
  const fs::path p = edited_adapter("tiny-sd15/base", "base_proj", [](auto& t) {
    replace(t, "image_proj.proj.weight", Tensor::zeros({60, 32}));
  });
  std::string e = test::error_of([&] { load_ip_image_projection(p); });
  EXPECT_NE(e.find(p.string() +
                   ": tensor 'image_proj.proj.weight' has shape [60, 32], expected [tokens * 16, embeds]"),
            std::string::npos)
      << e;
  const fs::path q =
      edited_adapter("tiny-sd15/base", "base_bias", [](auto& t) { drop(t, "image_proj.norm.bias"); });
  e = test::error_of([&] { load_ip_image_projection(q); });
  EXPECT_NE(e.find(q.string() + ": missing tensor 'image_proj.norm.bias'"), std::string::npos) << e;
}

TEST(IpImageProjectionErrors, PlusShapes) {
  const fs::path p = edited_adapter("tiny-sdxl/plus", "plus_kv", [](auto& t) {
    replace(t, "image_proj.layers.2.0.to_kv.weight", Tensor::zeros({128, 32}));
  });
  std::string e = test::error_of([&] { load_ip_image_projection(p); });
  EXPECT_NE(e.find(p.string() +
                   ": tensor 'image_proj.layers.2.0.to_kv.weight' has shape [128, 32], expected [256, 32]"),
            std::string::npos)
      << e;
  const fs::path q = edited_adapter("tiny-sd15/plus", "plus_q", [](auto& t) {
    replace(t, "image_proj.layers.0.0.to_q.weight", Tensor::zeros({100, 32}));
  });
  e = test::error_of([&] { load_ip_image_projection(q); });
  EXPECT_NE(
      e.find(
          "tensor 'image_proj.layers.0.0.to_q.weight' has 100 rows, expected a multiple of the head size 64"),
      std::string::npos)
      << e;
  const fs::path r =
      edited_adapter("tiny-sd15/plus", "plus_ff", [](auto& t) { drop(t, "image_proj.layers.3.1.3"); });
  e = test::error_of([&] { load_ip_image_projection(r); });
  EXPECT_NE(e.find("missing tensor 'image_proj.layers.3.1.3.weight'"), std::string::npos) << e;
}

TEST(IpImageProjectionErrors, EncoderMismatch) {
  const IpImageProjection base = load_ip_image_projection(adapter_file("tiny-sd15/base"));
  const IpImageProjection plus = load_ip_image_projection(adapter_file("tiny-sd15/plus"));
  ClipVisionConfig vit_h;  // defaults: ViT-H/14, hidden 1280, projection 1024
  std::string e = test::error_of([&] { base.check_encoder(vit_h, "enc/"); });
  EXPECT_NE(e.find(adapter_file("tiny-sd15/base").string() +
                   ": the base image projection takes image embeds of width 32, but the image encoder enc/ "
                   "projects to 1024"),
            std::string::npos)
      << e;
  e = test::error_of([&] { plus.check_encoder(vit_h, "enc/"); });
  EXPECT_NE(e.find("the plus image projection takes image encoder hidden states of width 32, but the image "
                   "encoder enc/ has hidden size 1280"),
            std::string::npos)
      << e;
  vit_h.projection_dim = 0;
  e = test::error_of([&] { base.check_encoder(vit_h, "enc/"); });
  EXPECT_NE(e.find("has no visual projection"), std::string::npos) << e;
  // Wrong input widths at run time.
  e = test::error_of([&] { base(Tensor::zeros({1, 31})); });
  EXPECT_NE(e.find("expected float32 image embeds [batch, 32], got F32 [1, 31]"), std::string::npos) << e;
  e = test::error_of([&] { plus(Tensor::zeros({1, 257, 31})); });
  EXPECT_NE(e.find("expected float32 encoder hidden states [batch, tokens, 32]"), std::string::npos) << e;
}

TEST(IpImageProjectionErrors, TruncatedFile) {
  const fs::path p = test::temp_dir("ip_proj_truncated") / "adapter.safetensors";
  fs::copy_file(adapter_file("tiny-sd15/plus"), p);
  fs::resize_file(p, fs::file_size(p) - 100);
  const std::string e = test::error_of([&] { load_ip_image_projection(p); });
  EXPECT_NE(e.find(p.string()), std::string::npos) << e;
}

}  // namespace
}  // namespace i2i
