// Running the fixtures' end-to-end pipeline cases (cases/pipelines) through run_img2img and comparing the
// outcome with what diffusers recorded.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "io/safetensors.h"
#include "pipelines/img2img.h"
#include "pipelines/sd_model.h"

namespace i2i::test {

// Tolerances (as tests/img2img_test.cpp). The fixtures' float32-vs-float64 reruns differ by up to 1.7e-4 in
// the final latents (values up to ~30) and 1.6e-5 in images_np (the inpaint cases: 8.3e-5 and 6.0e-6); a
// second float32 implementation (other GEMM summation orders) sits at a similar distance on the other side,
// amplified a little by the 10 steps. We allow 10x the reference's own float32 noise: 2e-3 on latents, 1e-3
// on images_np (README: "about 1e-3"). A real bug (wrong noise order, a mask off by one latent pixel, the
// blend on the wrong side) moves values by 1e-2 or more.
constexpr double kLatentTol = 2e-3;
constexpr double kImageTol = 1e-3;
// Single-stage tensors (prompt embeddings, the masked image's VAE latents): README "about 1e-4".
constexpr double kStageTol = 1e-4;

// A fixture model (models/<name>, a file or a folder), float32, loaded once per name.
const SdModel& fixture_model(const std::string& name);
// The request a case describes: prompt, strength, steps, guidance, sampler, batch size, init image and (if
// the case has one) the mask; a case without input images (txt2img.json) is txt2img at its width x height.
// ControlNet units are left to the caller.
Img2ImgRequest request_for_case(const nlohmann::json& c);
// Compares embeddings, the timesteps and latents of every step, final latents, images_np, the PNGs
// (within one level everywhere, equal almost everywhere) and, for inpainting cases, the mask and
// masked-image latents fed to the UNet. `tensors`: the case's tensor file (default: cases.json's
// "pipelines" group).
void expect_matches_case(const Img2ImgResult& r, const nlohmann::json& c, const SafeTensors& tensors);
void expect_matches_case(const Img2ImgResult& r, const nlohmann::json& c);

// Passes a generator's draws through, keeping a copy of each (to compare with a case's recorded noise
// draws); the caller gets its own copy, so in-place use cannot change what was recorded.
class RecordingNoise : public NoiseSource {
 public:
  explicit RecordingNoise(NoiseSource& inner) : inner_(inner) {}
  Tensor randn(const Shape& shape) override {
    draws.push_back(inner_.randn(shape));
    return draws.back().clone();
  }
  std::vector<Tensor> draws;

 private:
  NoiseSource& inner_;
};

}  // namespace i2i::test
