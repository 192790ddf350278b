// Fixture cases through generate() (the library's front door, pipelines/generation.h): a ModelSet of a
// fixture model and the GenerationRequest a case's parameters describe, as the generate()-level tests of
// LoRA, embeddings and IP-Adapter share them.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "pipelines/generation.h"

namespace i2i::test {

// The fixture model at `model` (a path under the fixtures folder) with the fixtures' tokenizer, float32.
std::unique_ptr<ModelSet> load_fixture_models(const std::string& model = "models/tiny-sd15.safetensors");
// tiny-sd15, loaded once per test program.
ModelSet& shared_tiny_sd15();

// The request a case's "parameters" describe: init image (by path), the prompt under `prompt_key`
// ("prompt", or "prompt_a1111" for the LoRA cases' tagged text), negative prompt, strength, steps,
// guidance, sampler, seed, batch size. With `index` (a cases/*.json file), the case's recorded noise
// draws are replayed.
GenerationRequest generation_request_for_case(const nlohmann::json& c, const std::string& index = "",
                                              const char* prompt_key = "prompt");

// A tensor a case names ({"key": ...} in `index`'s tensor file), as float32.
Tensor case_tensor(const std::string& index, const nlohmann::json& ref);

}  // namespace i2i::test
