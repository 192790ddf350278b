// SD-Turbo-class img2img for `i2i bench` (issue 16): SD-Turbo's model card settings, 2 steps at strength 0.5,
// so int(2 * 0.5) = 1 denoising step at t = 499 (schedule "trailing", sampler Euler a), guidance 0 (one UNet
// pass of batch 1), one prompt through the text encoder, VAE encode and decode at 512x512, through
// run_img2img as diffusers' StableDiffusionImg2ImgPipeline runs it. Stage `img2img_turbo` runs it on a random
// SD 2.1-size model (SD-Turbo's architecture: UNet with Linear projections and context 1024, OpenCLIP ViT-H
// text encoder of which 23 of 24 blocks run, SD's VAE) built in memory here; `turbo_img2img` runs the same
// code on the bench's SD 1.5 model or its --model.
#pragma once

#include <cstdint>

#include "core/tensor.h"
#include "pipelines/img2img.h"
#include "pipelines/sd_model.h"
#include "tools/random_checkpoint.h"

namespace i2i::bench {

constexpr int kTurboSteps = 2;
constexpr double kTurboStrength = 0.5;

// A random SD 2.x model of `shape` (tools/random_checkpoint.h: SdShape::sd21() is SD 2.1's and SD-Turbo's
// size; fp16 weights as released files hold them), built component by component so that only one
// component's fp16 copy is alive at a time.
SdModel random_sd2_model(const SdShape& shape, Precision precision, uint64_t seed);

// FLOPs of one turbo img2img of `m` at `side` x `side` pixels with `tokens` prompt tokens: text encode
// (batch 1) + VAE encode + one UNet pass (batch 1) + VAE decode.
double turbo_img2img_flops(const SdModel& m, int64_t side, int64_t tokens);

// One turbo img2img: the prompt `ids` [1, T] encoded, `image` [1, H, W, 3] in [-1, 1] as the init image.
Img2ImgResult run_turbo_img2img(const SdModel& m, const Tensor& ids, const Tensor& image, uint64_t seed);

}  // namespace i2i::bench
