#include "support/generation_cases.h"

#include "support/cli_run.h"
#include "support/fixtures.h"

namespace i2i::test {

std::unique_ptr<ModelSet> load_fixture_models(const std::string& model) {
  SdModelOptions o;
  o.tokenizer = fixture_path("tokenizer");
  o.precision = PrecisionChoice::F32;
  return ModelSet::load(fixture_path(model), o);
}

ModelSet& shared_tiny_sd15() {
  static std::unique_ptr<ModelSet> m = load_fixture_models();
  return *m;
}

Tensor case_tensor(const std::string& index, const nlohmann::json& ref) {
  return index_tensors(index).get(ref.at("key").get<std::string>()).to(DType::F32);
}

GenerationRequest generation_request_for_case(const nlohmann::json& c, const std::string& index,
                                              const char* prompt_key) {
  const auto& prm = c.at("parameters");
  GenerationRequest req;
  GenerationParams& p = req.params;
  p.init_image = fixture_path(prm.at("image")).string();
  p.prompt = prm.at(prompt_key);
  p.negative_prompt = prm.at("negative_prompt");
  p.strength = prm.at("strength");
  p.steps = prm.at("steps");
  p.cfg_scale = prm.at("guidance_scale");
  p.sampler = c.at("sampler");
  p.seed = prm.at("seed");
  p.batch_size = prm.value("num_images_per_prompt", 1);
  if (!index.empty())
    for (const auto& d : c.at("noise_draws")) req.replay_noise.push_back(case_tensor(index, d));
  return req;
}

}  // namespace i2i::test
