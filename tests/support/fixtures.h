// Access to the reference fixtures in ../shared/fixtures (read in place, never copied) and tensor
// comparison helpers for tests.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "io/image.h"
#include "io/safetensors.h"
#include "models/weights.h"

namespace i2i::test {

// The fixtures folder: $I2I_FIXTURES if set, else ../shared/fixtures beside the source tree.
std::filesystem::path fixtures_dir();
// A fresh, empty scratch folder for one test (under the build tree; unique to this process).
std::filesystem::path temp_dir(const std::string& name);

// cases/cases.json, parsed once.
const nlohmann::json& cases_json();
// The safetensors file of a case group ("unet", "vae", "text_encoders", ...), opened once.
const SafeTensors& group_file(const std::string& group);
// Resolves a tensor reference {"key": ..., "shape": ..., "dtype": ...} of `group` (as stored; use .to(F32)).
Tensor ref_tensor(const std::string& group, const nlohmann::json& ref);
// The case of `group` with this id (fails the test if absent).
const nlohmann::json& find_case(const std::string& group, const std::string& id);

// The case indexes beside cases.json (cases/<index>, e.g. "txt2img.json": {"file": ..., "groups": {...}}),
// parsed once; the index's tensor file (its "file"), opened once; its case `id` in `group` (throws if
// absent).
const nlohmann::json& index_json(const std::string& index);
const SafeTensors& index_tensors(const std::string& index);
const nlohmann::json& find_index_case(const std::string& index, const std::string& group,
                                      const std::string& id);
// An output of a case of `index` (the tensor its "outputs".<name>."key" names in the index's tensor file),
// as stored; index_output_map: a uint8 map [H, W] as a 1-channel image (a test failure when not uint8).
Tensor index_output(const std::string& index, const nlohmann::json& c, const std::string& name);
Image index_output_map(const std::string& index, const nlohmann::json& c, const std::string& name);
// A PNG a case names (its "images_png" entries), whichever folder the index counts from.
std::filesystem::path case_png(const std::string& rel);

// The fixture models' folder (../shared/fixtures/models).
const std::filesystem::path& models_dir();

// Where a fixture model's weights are loaded from: its diffusers folder or one of its single files.
enum class Source { Diffusers, SingleFp32, SingleFp16 };
const char* source_name(Source s);
// A gtest parameter name for (model, source), e.g. "tiny_sd15_single_fp16".
std::string case_name(const std::string& model, Source s);
// A model's single file for SingleFp32 / SingleFp16 (models_dir()/<model>[.fp16].safetensors).
std::filesystem::path single_file(const std::string& model, Source s);

// The parameter of tests that run once per way of loading a fixture model.
struct ModelSource {
  std::string model;
  Source source;
};
// Each model from its diffusers folder and from its fp16 single file, plus tiny-sd15 from its fp32 file.
std::vector<ModelSource> model_sources(std::initializer_list<const char*> models);
// INSTANTIATE_TEST_SUITE_P's name generator for ModelSource parameters.
struct ModelSourceName {
  std::string operator()(const ::testing::TestParamInfo<ModelSource>& info) const {
    return case_name(info.param.model, info.param.source);
  }
};

// One loaded model per (model, source) for the whole test program: `load(model, source)` returns it.
template <typename T, typename Load>
const T& cached_model(const std::string& model, Source source, Load load) {
  static std::map<std::string, std::unique_ptr<T>> cache;
  auto& slot = cache[model + "/" + source_name(source)];
  if (!slot) slot = std::make_unique<T>(load(model, source));
  return *slot;
}

// The message of the i2i::Error that `f` throws, or "(no error)".
std::string error_of(const std::function<void()>& f);

// A copy of `w` (same origin) without the tensor `drop`.
Weights weights_without(const Weights& w, const std::string& drop);

// Uniform random values in [lo, hi) from a fixed seed (std::mt19937), for kernel tests.
Tensor random_uniform(Shape shape, uint32_t seed, float lo = -1.0f, float hi = 1.0f);

struct Diff {
  double max_abs = 0;
  int64_t worst_index = -1;
};
Diff max_abs_diff(const Tensor& a, const Tensor& b);

// Expects equal shapes and max |a - b| <= atol; the message names `what` and the worst element.
::testing::AssertionResult all_close(const Tensor& got, const Tensor& want, double atol,
                                     const std::string& what = "");

}  // namespace i2i::test
