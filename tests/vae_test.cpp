// AutoencoderKL against the fixtures' `vae` cases (diffusers 0.27.2, float32), loaded from the diffusers
// folders and the original-layout single files (fp32 and fp16); tiled encode/decode against untiled.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <map>
#include <memory>

#include "core/error.h"
#include "io/safetensors.h"
#include "models/ldm_keys.h"
#include "models/model_config.h"
#include "models/unet_load.h"
#include "models/vae_load.h"
#include "support/fixtures.h"

namespace i2i {
namespace {

namespace fs = std::filesystem;

// Tolerance: the fixtures' float32-vs-float64 differences are 3.3e-6 for the encoder's mean/logvar (values up
// to ~6) and 4.7e-6 for decodes (std ~0.5) (README "Tolerances"). 1e-4 absolute leaves ~20x for a different
// float32 summation order; real bugs (padding side of the downsampler, eps, level order) give >= 1e-2.
constexpr double kVaeTol = 1e-4;

const fs::path& models_dir() {
  static const fs::path p = test::fixtures_dir() / "models";
  return p;
}

enum class Source { Diffusers, SingleFp32, SingleFp16 };
const char* source_name(Source s) {
  return s == Source::Diffusers ? "diffusers" : s == Source::SingleFp32 ? "single_fp32" : "single_fp16";
}

const AutoencoderKL& vae(const std::string& model, Source source) {
  static std::map<std::string, std::unique_ptr<AutoencoderKL>> cache;
  auto& slot = cache[model + "/" + source_name(source)];
  if (!slot) {
    if (source == Source::Diffusers) {
      slot = std::make_unique<AutoencoderKL>(load_vae_diffusers(models_dir() / model));
    } else {
      nlohmann::json config = read_json_file(models_dir() / (model + ".json")).at("vae");
      std::string file = model + (source == Source::SingleFp16 ? ".fp16.safetensors" : ".safetensors");
      slot = std::make_unique<AutoencoderKL>(load_vae_single_file(models_dir() / file, &config));
    }
  }
  return *slot;
}

Tensor ref(const nlohmann::json& r) {
  return nchw_to_nhwc(test::ref_tensor("vae", r).to(DType::F32));
}

struct Param {
  std::string model;
  Source source;
};

class VaeCases : public ::testing::TestWithParam<Param> {};

TEST_P(VaeCases, MatchesEncodeAndDecode) {
  const auto& [model, source] = GetParam();
  const AutoencoderKL& v = vae(model, source);
  const auto& c = test::find_case("vae", model);
  const auto& out = c.at("outputs");
  EXPECT_FLOAT_EQ(v.config().scaling_factor, c.at("scaling_factor").get<float>());
  Tensor image = ref(c.at("inputs").at("image"));
  EXPECT_TRUE(test::all_close(v.encoder_output(image), ref(out.at("encoder_out")), kVaeTol, "encoder_out"));
  Tensor moments = v.moments(image);
  EXPECT_TRUE(test::all_close(moments, ref(out.at("moments")), kVaeTol, "moments"));
  VaePosterior p = v.encode(image);
  EXPECT_TRUE(test::all_close(p.mean, ref(out.at("latent_mean")), kVaeTol, "mean"));
  EXPECT_TRUE(test::all_close(p.logvar, ref(out.at("latent_logvar")), kVaeTol, "logvar"));
  EXPECT_TRUE(test::all_close(p.std(), ref(out.at("latent_std")), kVaeTol, "std"));
  EXPECT_TRUE(test::all_close(v.decode(ref(out.at("latent_mean"))), ref(out.at("decode(latent_mean)")),
                              kVaeTol, "decode(mean)"));
  Tensor z = ref(c.at("inputs").at("z"));
  EXPECT_TRUE(
      test::all_close(v.post_quant(z), ref(out.at("post_quant_conv(z)")), kVaeTol, "post_quant_conv(z)"));
  EXPECT_TRUE(test::all_close(v.decode(z), ref(out.at("decode(z)")), kVaeTol, "decode(z)"));
}

std::vector<Param> params() {
  // tiny-sdxl's VAE is the same AutoencoderKL (only its scaling factor differs), so its case is covered too.
  std::vector<Param> p;
  for (const char* m : {"tiny-sd15", "tiny-sd2v", "tiny-sdxl"})
    for (Source s : {Source::Diffusers, Source::SingleFp16}) p.push_back({m, s});
  p.push_back({"tiny-sd15", Source::SingleFp32});
  return p;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, VaeCases, ::testing::ValuesIn(params()), [](const auto& info) {
  std::string name = info.param.model + "_" + source_name(info.param.source);
  for (char& ch : name)
    if (ch == '-') ch = '_';
  return name;
});

TEST(VaeConfig, InfersShapesAndTakesTheRestFromJson) {
  nlohmann::json j = read_json_file(models_dir() / "tiny-sdxl.json").at("vae");
  Weights w = diffusers_component_weights(models_dir() / "tiny-sdxl" / "vae");
  VaeConfig got = infer_vae_config(w, &j);
  EXPECT_EQ(got.block_out_channels, (std::vector<int64_t>{16, 16, 32, 32}));
  EXPECT_EQ(got.layers_per_block, 2);
  EXPECT_EQ(got.latent_channels, 4);
  EXPECT_EQ(got.in_channels, 3);
  EXPECT_EQ(got.out_channels, 3);
  EXPECT_EQ(got.norm_num_groups, 8);
  EXPECT_FLOAT_EQ(got.scaling_factor, 0.13025f);
  // Without a config: the real models' 32 groups, impossible for 16 channels.
  EXPECT_THROW(infer_vae_config(w), Error);
}

// The single file's VAE converts to exactly the diffusers folder's tensors (names, shapes, bytes), with the
// mid-block attention's 1x1-conv weights reshaped to Linear weights.
TEST(VaeLoad, SingleFileEqualsTheDiffusersFolder) {
  for (const char* model : {"tiny-sd15", "tiny-sd2v", "tiny-sdxl"}) {
    SCOPED_TRACE(model);
    auto st = SafeTensors::open(models_dir() / (std::string(model) + ".fp16.safetensors"));
    Weights got = vae_weights_from_ldm(st);
    Weights want = diffusers_component_weights(models_dir() / model / "vae");
    ASSERT_EQ(got.size(), want.size());
    for (const auto& [name, t] : want.all()) {
      ASSERT_TRUE(got.has(name)) << name;
      const Tensor& g = got.get(name);
      ASSERT_EQ(g.shape(), t.shape()) << name;
      EXPECT_EQ(std::memcmp(g.raw(), t.raw(), t.nbytes()), 0) << name;
    }
  }
  EXPECT_EQ(ldm_vae_key_to_diffusers("decoder.up.0.block.2.nin_shortcut.weight", 4),
            "decoder.up_blocks.3.resnets.2.conv_shortcut.weight");
  EXPECT_EQ(ldm_vae_key_to_diffusers("encoder.mid.attn_1.proj_out.bias", 4),
            "encoder.mid_block.attentions.0.to_out.0.bias");
  EXPECT_EQ(ldm_vae_key_to_diffusers("encoder.down.2.downsample.conv.weight", 4),
            "encoder.down_blocks.2.downsamplers.0.conv.weight");
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(VaeLoad, MissingAndMisshapenTensorsAreNamed) {
  const fs::path dir = models_dir() / "tiny-sd15" / "vae";
  VaeConfig config = vae_config_from_file(dir / "config.json");
  Weights full = diffusers_component_weights(dir);
  const std::string gone = "decoder.up_blocks.1.upsamplers.0.conv.bias";
  Weights cut(full.origin());
  for (const auto& [name, t] : full.all())
    if (name != gone) cut.add(name, t);
  std::string msg = error_of([&] { AutoencoderKL(cut, config); });
  EXPECT_NE(msg.find("missing tensor '" + gone + "'"), std::string::npos) << msg;

  const std::string bad = "encoder.mid_block.attentions.0.to_v.weight";
  full.add(bad, Tensor::zeros({32, 32, 1, 1}));
  msg = error_of([&] { AutoencoderKL(full, config); });
  EXPECT_NE(msg.find("'" + bad + "' has shape [32, 32, 1, 1], expected [32, 32]"), std::string::npos) << msg;
}

TEST(Vae, RejectsImagesNotAMultipleOfTheDownscale) {
  const AutoencoderKL& v = vae("tiny-sd15", Source::Diffusers);
  std::string msg = error_of([&] { v.encode(Tensor::zeros({1, 60, 64, 3})); });
  EXPECT_NE(msg.find("multiple of 8"), std::string::npos) << msg;
}

// ---- tiling ---------------------------------------------------------------------------------------------

// A smooth, deterministic test signal (tiling is meant for natural images / latents, not white noise).
Tensor smooth(Shape shape, float freq) {
  std::vector<float> v(static_cast<size_t>(shape_numel(shape)));
  const int64_t h = shape[1], w = shape[2], c = shape[3];
  for (int64_t n = 0; n < shape[0]; ++n)
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < w; ++x)
        for (int64_t k = 0; k < c; ++k)
          v[static_cast<size_t>(((n * h + y) * w + x) * c + k)] =
              0.8f * std::sin(freq * (static_cast<float>(x) + 1.7f * static_cast<float>(k)) +
                              0.6f * freq * static_cast<float>(y) * (1 + k % 2));
  return Tensor::from_vector(shape, v);
}

double mean_abs(const Tensor& a, const Tensor& b) {
  std::vector<float> x = a.to_vector(), y = b.to_vector();
  double s = 0;
  for (size_t i = 0; i < x.size(); ++i) s += std::fabs(static_cast<double>(x[i]) - y[i]);
  return s / static_cast<double>(x.size());
}

TEST(VaeTiling, OneTileIsExactlyUntiled) {
  const AutoencoderKL& v = vae("tiny-sd15", Source::Diffusers);
  Tensor z = smooth({1, 16, 16, 4}, 0.3f);
  EXPECT_EQ(test::max_abs_diff(v.decode_tiled(z, {16, 4}), v.decode(z)).max_abs, 0.0);
}

TEST(VaeTiling, TiledDecodeAndEncodeStayCloseToUntiled) {
  // Tiles differ from the whole image by their GroupNorm statistics and by zero padding at the tile borders,
  // so the results are close, not equal. The bounds (mean abs diff < 0.1 x the output's mean magnitude,
  // max < 1) are for these smooth inputs with overlap = half a tile; a blending or placement bug (a tile
  // shifted, weights not normalised) is off by the full signal (~0.5 mean) and fails them.
  const AutoencoderKL& v = vae("tiny-sd15", Source::Diffusers);
  Tensor z = smooth({1, 32, 24, 4}, 0.25f);
  Tensor full = v.decode(z);
  Tensor tiled = v.decode_tiled(z, {16, 8});
  ASSERT_EQ(tiled.shape(), full.shape());
  double scale = mean_abs(full, Tensor::zeros(full.shape()));
  double mean = mean_abs(tiled, full), max = test::max_abs_diff(tiled, full).max_abs;
  std::printf("decode: mean |out| %.4f, tiled vs untiled mean %.4g max %.4g\n", scale, mean, max);
  EXPECT_LT(mean, 0.1 * scale);
  EXPECT_LT(max, 1.0);

  Tensor image = smooth({1, 256, 192, 3}, 0.05f);
  VaePosterior a = v.encode(image), b = v.encode_tiled(image, {16, 8});
  double mscale = mean_abs(a.mean, Tensor::zeros(a.mean.shape()));
  double mmean = mean_abs(a.mean, b.mean), mmax = test::max_abs_diff(a.mean, b.mean).max_abs;
  std::printf("encode: mean |mean| %.4f, tiled vs untiled mean %.4g max %.4g\n", mscale, mmean, mmax);
  EXPECT_LT(mmean, 0.1 * mscale);
  EXPECT_LT(mmax, 1.0);
}

}  // namespace
}  // namespace i2i
