#include "support/pipeline_cases.h"

#include <map>
#include <memory>

#include "io/image.h"
#include "support/cli_run.h"
#include "support/fixtures.h"

namespace i2i::test {

const SdModel& fixture_model(const std::string& name) {
  static std::map<std::string, std::unique_ptr<SdModel>> cache;
  auto& slot = cache[name];
  if (!slot) {
    SdModelOptions o;
    o.tokenizer = fixtures_dir() / "tokenizer";
    o.precision = PrecisionChoice::F32;
    slot = std::make_unique<SdModel>(load_sd_model(fixtures_dir() / "models" / name, o));
  }
  return *slot;
}

Img2ImgRequest request_for_case(const nlohmann::json& c) {
  const auto& prm = c.at("parameters");
  Img2ImgRequest req;
  if (c.contains("input_images")) {
    const auto input = [&](const std::string& key) {
      // cases.json names inputs by file name, later indexes relative to the fixtures folder.
      const std::string rel = c.at("input_images").at(key).get<std::string>();
      return read_image(rel.rfind("cases/", 0) == 0 ? fixtures_dir() / rel
                                                    : fixtures_dir() / "cases" / "inputs" / rel);
    };
    req.init_image = image_to_tensor(to_rgb(input("image")));
    if (c.at("input_images").contains("mask_image")) req.mask = mask_to_tensor(input("mask_image"));
    req.strength = prm.at("strength");
    req.steps = prm.at("steps");
  } else {  // txt2img: diffusers' StableDiffusionPipeline arguments
    req.width = prm.at("width");
    req.height = prm.at("height");
    req.steps = prm.at("num_inference_steps");
  }
  req.prompt = prm.at("prompt");
  req.negative_prompt = prm.value("negative_prompt", "");
  req.cfg_scale = prm.at("guidance_scale");
  req.sampler = c.at("sampler");
  req.batch_size = prm.value("num_images_per_prompt", 1);
  return req;
}

namespace {

const nlohmann::json* output_starting_with(const nlohmann::json& out, const std::string& prefix) {
  for (const auto& [k, v] : out.items())
    if (k.rfind(prefix, 0) == 0) return &v;
  return nullptr;
}

}  // namespace

void expect_matches_case(const Img2ImgResult& r, const nlohmann::json& c) {
  expect_matches_case(r, c, group_file("pipelines"));
}

void expect_matches_case(const Img2ImgResult& r, const nlohmann::json& c, const SafeTensors& tensors) {
  const auto& out = c.at("outputs");
  const auto ref = [&](const nlohmann::json& t) {
    return tensors.get(t.at("key").get<std::string>()).to(DType::F32);
  };
  // Embeddings are recorded repeated per image ([B, T, D]); ours are [1, T, D].
  EXPECT_TRUE(
      all_close(r.prompt_embeds, ref(out.at("prompt_embeds")).slice0(0, 1), kStageTol, "prompt_embeds"));
  if (out.contains("negative_prompt_embeds"))
    EXPECT_TRUE(all_close(r.negative_prompt_embeds, ref(out.at("negative_prompt_embeds")).slice0(0, 1),
                          kStageTol, "negative_prompt_embeds"));
  else  // no guidance: the negative prompt is not encoded
    EXPECT_FALSE(r.negative_prompt_embeds.defined());
  if (const auto* m = output_starting_with(out, "mask")) {
    // Recorded CFG-duplicated, NCHW [2, 1, h, w]; ours is [1, h, w, 1].
    Tensor want = ref(*m).slice0(0, 1);
    EXPECT_TRUE(all_close(nhwc_to_nchw(r.mask_latents), want, 0, "mask"));
  }
  if (const auto* m = output_starting_with(out, "masked_image_latents")) {
    Tensor want = ref(*m).slice0(0, 1);
    EXPECT_TRUE(all_close(nhwc_to_nchw(r.masked_image_latents.slice0(0, 1)), want, kStageTol,
                          "masked_image_latents"));
  }
  // Timesteps exactly (they are integers or float32 values computed the same way).
  std::vector<float> want_t = ref(out.at("step_timesteps")).to_vector();
  std::vector<float> got_t(r.step_timesteps.begin(), r.step_timesteps.end());
  EXPECT_EQ(got_t, want_t) << "step_timesteps";
  Tensor want_steps = ref(out.at("step_latents"));
  ASSERT_EQ(r.step_latents.size(), static_cast<size_t>(want_steps.dim(0)));
  for (size_t i = 0; i < r.step_latents.size(); ++i)
    EXPECT_TRUE(all_close(nhwc_to_nchw(r.step_latents[i]),
                          want_steps.slice0(i, i + 1).reshape(nhwc_to_nchw(r.step_latents[i]).shape()),
                          kLatentTol, "step_latents " + std::to_string(i)));
  Tensor want_latents = ref(out.at("final_latents"));
  EXPECT_TRUE(all_close(nhwc_to_nchw(r.latents), want_latents, kLatentTol, "final_latents"));
  Tensor want_images = ref(out.at("images_np"));
  std::printf("%s: final latents diff %.3g, images diff %.3g\n", c.at("id").get<std::string>().c_str(),
              max_abs_diff(nhwc_to_nchw(r.latents), want_latents).max_abs,
              max_abs_diff(r.images, want_images).max_abs);
  EXPECT_TRUE(all_close(r.images, want_images, kImageTol, "images_np"));
  // The 8-bit pictures: within one level everywhere, and equal almost everywhere (a value within 1e-3 of a
  // rounding boundary may round the other way).
  const auto& pngs = out.at("images_png");
  ASSERT_EQ(pngs.size(), static_cast<size_t>(r.images.dim(0)));
  for (size_t b = 0; b < pngs.size(); ++b) {
    Image want = read_image(case_png(pngs[b].get<std::string>()));
    Image got = tensor_to_image(r.images, static_cast<int64_t>(b));
    expect_same_picture(got, want, "png " + std::to_string(b));
  }
}

}  // namespace i2i::test
