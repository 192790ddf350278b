// IP-Adapter through generate() (pipelines/generation.h, ip_adapter_request.h): every sd15 `pipelines`
// case of cases/ip_adapter.json made from the pictures and files alone (CLIP image processor, image encoder,
// projection and UNet attention), compared step by step with diffusers 0.27.2; the image encoder running once
// per picture (cached by picture in the ModelSet); the image encoder lookup; and the bad input as
// one-line errors.
#include <gtest/gtest.h>

#include <fstream>

#include "core/error.h"
#include "io/parameters.h"
#include "io/safetensors.h"
#include "pipelines/generation.h"
#include "pipelines/infotext.h"
#include "pipelines/ip_adapter_request.h"
#include "pipelines/ip_adapter_units.h"
#include "support/cli_run.h"
#include "support/fixtures.h"
#include "support/generation_cases.h"
#include "support/pipeline_cases.h"

namespace i2i {
namespace {
namespace fs = std::filesystem;

const char* const kIndex = "ip_adapter.json";
// README "Tolerances": pipelines 1e-3 on the latents (the fixtures' float32 vs float64 rerun: 1.1e-4).
constexpr double kLatentTol = 1e-3;

std::unique_ptr<ModelSet> load_models() {
  return test::load_fixture_models();
}
ModelSet& shared_models() {
  return test::shared_tiny_sd15();
}
Tensor ref(const nlohmann::json& r) {
  return test::case_tensor(kIndex, r);
}

// The case as a request naming files only; the IP-Adapter's image encoder is left to the lookup.
GenerationRequest request_for(const nlohmann::json& c) {
  const auto& prm = c.at("parameters");
  GenerationRequest req = test::generation_request_for_case(c);
  GenerationParams& p = req.params;
  const auto& ip = c.at("ip_adapter");
  IpAdapterParams u;
  u.model = test::fixture_path(ip.at("weight_file")).string();
  u.image = test::fixture_path(prm.at("ip_adapter_image")).string();
  if (!ip.at("scale").is_null()) u.scale = ip.at("scale");
  if (!ip.at("per_layer_scale_rule").is_null()) {
    std::vector<IpAdapterLayerScale> layers;
    for (const auto& [name, s] : ip.at("per_layer_scale_rule").at("layers").items())
      layers.push_back({name, s});
    u.layers = format_ip_adapter_layers(layers);
  }
  p.ip_adapters.push_back(u);
  // A batch of several pictures from one generator (diffusers' num_images_per_prompt): its recorded draws.
  if (p.batch_size > 1)
    for (const auto& d : c.at("noise_draws")) req.replay_noise.push_back(ref(d));
  return req;
}

class GenerateIpAdapterCase : public ::testing::TestWithParam<std::string> {};

TEST_P(GenerateIpAdapterCase, MatchesDiffusersFromThePictures) {
  const auto& c = test::find_index_case(kIndex, "pipelines", GetParam());
  GenerationRequest req = request_for(c);
  req.params.infotext_paths = true;  // to see which encoder the lookup found
  std::vector<Tensor> steps;
  req.progress = [&](const GenerationProgress& g) {
    steps.push_back(g.latents->clone());
    return true;
  };
  const GenerationResult r = generate(shared_models(), req);
  const Tensor want = ref(c.at("outputs").at("step_latents"));  // [steps, B, 4, h, w]
  ASSERT_EQ(static_cast<int64_t>(steps.size()), want.dim(0));
  for (int64_t i = 0; i < want.dim(0); ++i) {
    const Tensor w = want.slice0(i, i + 1);
    EXPECT_TRUE(test::all_close(nhwc_to_nchw(steps[static_cast<size_t>(i)]),
                                w.reshape({want.dim(1), want.dim(2), want.dim(3), want.dim(4)}), kLatentTol,
                                "step " + std::to_string(i)));
  }
  const auto& pngs = c.at("outputs").at("images_png");
  ASSERT_EQ(r.images.size(), pngs.size());
  for (size_t k = 0; k < pngs.size(); ++k)
    test::expect_same_picture(r.images[k].image, read_image(test::case_png(pngs[k])),
                              "picture " + std::to_string(k));
  // The unit is in the parameters text, with the encoder the lookup found.
  const GenerationParameters info = parse_parameters(r.images[0].parameters);
  EXPECT_EQ(info.get("ControlNet 0").value_or("").rfind("Module: ip-adapter_clip_sd15, Model: ", 0), 0u);
  EXPECT_EQ(
      fs::path(info.get("ControlNet 0 image encoder").value_or("")),
      fs::absolute(test::fixture_path("models/tiny-ip-adapter/models/image_encoder")).lexically_normal());
}

std::vector<std::string> sd15_cases() {
  std::vector<std::string> ids;
  for (const auto& c : test::index_json(kIndex).at("groups").at("pipelines").at("cases"))
    if (c.at("model") == "tiny-sd15") ids.push_back(c.at("id"));
  return ids;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, GenerateIpAdapterCase, ::testing::ValuesIn(sd15_cases()),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& ch : n)
                             if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return n;
                         });

GenerationRequest small_request(const std::string& adapter = "models/ip-adapter_sd15.safetensors") {
  GenerationRequest req =
      request_for(test::find_index_case(kIndex, "pipelines", "sd15_ip_base_Euler_a_scale1.0"));
  req.params.steps = 2;
  req.params.strength = 0.5;
  req.params.ip_adapters[0].model = test::fixture_path("models/tiny-ip-adapter/" + adapter).string();
  return req;
}

TEST(GenerateIpAdapter, TheImageEncoderRunsOncePerPicture) {
  std::unique_ptr<ModelSet> models = load_models();
  GenerationRequest req = small_request();
  req.params.batch_count = 2;
  const GenerationResult first = generate(*models, req);
  EXPECT_EQ(models->ip_adapter_cache().encoder_runs(), 1);  // two batches, one encoder run
  const GenerationResult again = generate(*models, req);
  EXPECT_EQ(models->ip_adapter_cache().encoder_runs(), 1);  // the same picture again: cached
  EXPECT_EQ(first.images[1].image.pixels, again.images[1].image.pixels);
  // The same picture in memory is the same picture.
  req.images.ip_adapters = {read_image(req.params.ip_adapters[0].image)};
  req.params.ip_adapters[0].image.clear();
  generate(*models, req);
  EXPECT_EQ(models->ip_adapter_cache().encoder_runs(), 1);
  req.images.ip_adapters = {read_image(test::fixture_path("images/coffee_64.png"))};
  const GenerationResult other = generate(*models, req);
  EXPECT_EQ(models->ip_adapter_cache().encoder_runs(), 2);
  EXPECT_NE(other.images[0].image.pixels, first.images[0].image.pixels);
}

TEST(GenerateIpAdapter, WorksForTxt2ImgAndInpaintAndAddsUnits) {
  ModelSet& models = shared_models();
  GenerationRequest t2i = small_request();
  t2i.params.init_image.clear();
  t2i.params.width = t2i.params.height = 64;
  GenerationRequest plain = t2i;
  plain.params.ip_adapters.clear();
  EXPECT_NE(generate(models, t2i).images[0].image.pixels, generate(models, plain).images[0].image.pixels);

  GenerationRequest inpaint = small_request();
  inpaint.params.mask = test::fixture_path("cases/inputs/mask_64.png").string();
  GenerationRequest inpaint_plain = inpaint;
  inpaint_plain.params.ip_adapters.clear();
  const GenerationResult with = generate(models, inpaint);
  EXPECT_NE(with.images[0].image.pixels, generate(models, inpaint_plain).images[0].image.pixels);
  EXPECT_NE(parse_parameters(with.images[0].parameters).get("Mask blur"), std::nullopt);

  // Two units: base + plus on different pictures, each at 0.5.
  GenerationRequest two = small_request();
  two.params.ip_adapters[0].scale = 0.5;
  IpAdapterParams plus = two.params.ip_adapters[0];
  plus.model = test::fixture_path("models/tiny-ip-adapter/models/ip-adapter-plus_sd15.safetensors").string();
  plus.image = test::fixture_path("images/coffee_512.png").string();
  plus.mode = "style";
  two.params.ip_adapters.push_back(plus);
  const GenerationResult r = generate(models, two);
  const GenerationParameters info = parse_parameters(r.images[0].parameters);
  EXPECT_NE(info.get("ControlNet 1"), std::nullopt);
  EXPECT_EQ(info.get("ControlNet 1 IP-Adapter mode"), std::optional<std::string>("style"));
  EXPECT_NE(r.images[0].image.pixels, generate(models, small_request()).images[0].image.pixels);
}

void expect_one_line_error(const std::function<void()>& f, const std::vector<std::string>& parts) {
  const std::string e = test::error_of(f);
  for (const std::string& part : parts) EXPECT_NE(e.find(part), std::string::npos) << e;
  EXPECT_EQ(e.find('\n'), std::string::npos) << e;
}

// An adapter file rewritten: `change` edits its tensors (name -> tensor).
fs::path rewritten_adapter(const std::string& name,
                           const std::function<void(std::map<std::string, Tensor>&)>& change) {
  const fs::path src = test::fixture_path("models/tiny-ip-adapter/models/ip-adapter_sd15.safetensors");
  const SafeTensors st = SafeTensors::open(src);
  std::map<std::string, Tensor> tensors;
  for (const auto& n : st.names()) tensors[n] = st.get(n).clone();
  change(tensors);
  const fs::path dir = test::temp_dir("ip_adapter_" + name) / "models";
  fs::create_directories(dir);
  std::vector<std::pair<std::string, Tensor>> out(tensors.begin(), tensors.end());
  write_safetensors(dir / (name + ".safetensors"), out);
  return dir / (name + ".safetensors");
}

TEST(GenerateIpAdapter, BadInputIsAOneLineError) {
  ModelSet& models = shared_models();
  const std::string encoder = test::fixture_path("models/tiny-ip-adapter/models/image_encoder").string();
  auto run = [&](const std::function<void(GenerationRequest&)>& change) {
    return [&models, change] {
      GenerationRequest req = small_request();
      change(req);
      generate(models, req);
    };
  };
  // An SDXL adapter on SD 1.5.
  expect_one_line_error(
      run([](GenerationRequest& r) {
        r.params.ip_adapters[0].model =
            test::fixture_path("models/tiny-ip-adapter/sdxl_models/ip-adapter_sdxl_vit-h.safetensors");
      }),
      {"ip-adapter_sdxl_vit-h.safetensors: the IP-Adapter is for a cross-attention width of 40",
       "the model tiny-sd15.safetensors has 16"});
  // Another layer count.
  const fs::path fewer = rewritten_adapter("fewer_layers", [](auto& t) {
    t.erase("ip_adapter.31.to_k_ip.weight");
    t.erase("ip_adapter.31.to_v_ip.weight");
  });
  expect_one_line_error(
      run([&](GenerationRequest& r) {
        r.params.ip_adapters[0].model = fewer.string();
        r.params.ip_adapters[0].image_encoder = encoder;
      }),
      {"fewer_layers.safetensors: the IP-Adapter has 15 attention layers", "16 cross-attention"});
  // An encoder whose width is not the projection's (a projection taking 16-wide image embeddings).
  const fs::path narrow = rewritten_adapter("narrow_projection", [](auto& t) {
    t["image_proj.proj.weight"] = Tensor::zeros({64, 16});
  });
  expect_one_line_error(run([&](GenerationRequest& r) {
                          r.params.ip_adapters[0].model = narrow.string();
                          r.params.ip_adapters[0].image_encoder = encoder;
                        }),
                        {"narrow_projection.safetensors", "image_encoder"});
  // A missing encoder folder, given or looked up.
  expect_one_line_error(
      run([](GenerationRequest& r) { r.params.ip_adapters[0].image_encoder = "/nonexistent/enc"; }),
      {"/nonexistent/enc"});
  expect_one_line_error(
      run([&](GenerationRequest& r) { r.params.ip_adapters[0].model = narrow.string(); }),
      {"narrow_projection.safetensors: no CLIP image encoder folder found (looked for config.json in ",
       "models/image_encoder", "give image_encoder"});
  // A truncated adapter.
  const fs::path cut = test::temp_dir("ip_adapter_cut") / "ip-adapter_cut.safetensors";
  fs::copy_file(test::fixture_path("models/tiny-ip-adapter/models/ip-adapter_sd15.safetensors"), cut);
  fs::resize_file(cut, fs::file_size(cut) - 64);
  expect_one_line_error(run([&](GenerationRequest& r) {
                          r.params.ip_adapters[0].model = cut.string();
                          r.params.ip_adapters[0].image_encoder = encoder;
                        }),
                        {"ip-adapter_cut.safetensors"});
  // An unreadable picture.
  const fs::path bad = test::temp_dir("ip_adapter_bad_image") / "style.png";
  std::ofstream(bad) << "not a picture";
  expect_one_line_error(run([&](GenerationRequest& r) { r.params.ip_adapters[0].image = bad.string(); }),
                        {"style.png"});
  // No picture at all.
  expect_one_line_error(run([](GenerationRequest& r) { r.params.ip_adapters[0].image.clear(); }),
                        {"IP-Adapter 0: no reference picture (ip_adapter_image)"});
}

TEST(GenerateIpAdapter, ImageEncoderLookupFollowsTheH94Layout) {
  const fs::path root = test::fixture_path("models/tiny-ip-adapter");
  EXPECT_EQ(find_image_encoder(root / "models" / "ip-adapter_sd15.safetensors"),
            (root / "models" / "image_encoder").lexically_normal());
  EXPECT_EQ(find_image_encoder(root / "sdxl_models" / "ip-adapter-plus_sdxl_vit-h.safetensors"),
            (root / "models" / "image_encoder").lexically_normal());
  // One folder up.
  const fs::path dir = test::temp_dir("ip_adapter_lookup");
  fs::create_directories(dir / "image_encoder");
  std::ofstream(dir / "image_encoder" / "config.json") << "{}";
  fs::create_directories(dir / "adapters");
  EXPECT_EQ(find_image_encoder(dir / "adapters" / "a.safetensors"),
            (dir / "image_encoder").lexically_normal());
}

}  // namespace
}  // namespace i2i
