// `i2i bench`: end-to-end timings of the Stable Diffusion 1.5 (or SDXL base) components at full size (random
// weights built in memory), reported as seconds (median of N runs after a warm-up), achieved GFLOP/s
// (analytic FLOP counts, flops.h) and the fraction of the machine's peak measured in the same run (the best
// sustained rate of oneDNN matmuls and 3x3 convolutions at the models' shapes in the same precision, all
// threads, before and after the stages: bench_peak.h), plus the process's peak RSS, the CPU, the ISA oneDNN
// dispatches to and, per stage, the oneDNN kernels its warm-up run executed (bench_kernel_log.h).
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/phase_timer.h"
#include "kernels/precision.h"
#include "models/clip_text.h"
#include "models/unet.h"
#include "models/vae.h"
#include "pipelines/sd_model.h"
#include "tools/bench_kernel_log.h"
#include "tools/bench_peak.h"
#include "tools/bench_turbo.h"

namespace i2i::bench {

// Stage names, in the order they run and are reported.
// image_encode is the IP-Adapter image encoder (CLIP ViT-H/14: hidden 1280, 32 layers, 16 heads, MLP 5120,
// 257 tokens, projection 1024; random fp16 weights) on one picture, the whole model up to image_embeds.
// annotate_depth is A1111's depth_anything_v2 preprocessor (random Depth Anything V2 ViT-L, float32
// weights) making the map of a 512x512 picture at processor resolution 512 (network input 518x518).
// annotate_lineart / annotate_softedge: the ControlNet line-art and HED annotators
// (tools/bench_edge_annotators.h).
const std::vector<std::string>& all_stages();  // text_encode image_encode vae_encode unet_batch1
                                               // unet_cfg_step unet_cfg_step_ip vae_decode img2img
                                               // turbo_img2img img2img_turbo annotate_depth
                                               // annotate_openpose annotate_lineart annotate_softedge

// `annotate_openpose`: A1111's openpose preprocessor (preprocess/openpose.h openpose_a1111) on a 512x512
// picture at processor resolution 512 with a real-size body model (52.3M random weights): the network on its
// 184x184 input, the map resizes, peaks, people and drawing. FLOPs: the network's convolutions.

// `unet_cfg_step_ip`: unet_cfg_step (batch 2, 64x64 latent, 77 text tokens) with one IP-Adapter unit of 16
// image tokens (plus) and random to_k_ip / to_v_ip layers in every cross-attention.

// The `img2img` stage: one whole 512x512 img2img through run_img2img (strength 0.5, 10 steps, CFG 7, so
// int(10 * 0.5) = 5 denoising steps of batch 2, sampler Euler a), the prompt pair encoded by the text
// encoder from token ids inside the timed run and handed over as Img2ImgRequest::prompt_embeds (a random
// model has no tokenizer). FLOPs: text encode (batch 2) + VAE encode + 5 CFG steps + VAE decode.
constexpr int kImg2ImgSteps = 10;
constexpr double kImg2ImgStrength = 0.5;
constexpr double kImg2ImgCfg = 7.0;

// The `turbo_img2img` stage: SD-Turbo's img2img (its model card's settings, bench_turbo.h): 2 steps at
// strength 0.5, so int(2 * 0.5) = 1 denoising step at t = 499 (schedule type "trailing", sampler Euler a),
// guidance 0: one UNet pass of batch 1, one prompt encoded. FLOPs: text encode (batch 1) + VAE encode + 1
// UNet step + VAE decode. On `--model` (e.g. an SD 2.1-shaped file, `i2i random-model --shape sd21`) or, by
// default, on the random SD 1.5. `img2img_turbo` (issue 16) is the same run on a random SD 2.1-size model
// built in memory (after the SD 1.5 models are gone); with `--model` it times that model, like turbo_img2img.

// `--model-family sdxl`: random SDXL base UNet (2.57B parameters, 3 levels, transformer depths 2 and 10,
// context 2048, label_emb) and VAE at 1024x1024 (128x128 latent). Stages vae_encode, unet_batch1,
// unet_cfg_step (with pooled text embeds [B, 1280] and time ids [B, 6]) and vae_decode; the text encoders
// and whole runs are not part of it (their stages are reported as skipped; bench/sdxl_rss.sh times a whole
// SDXL img2img from a file). Default precision bf16 only: fp32 would hold 10 GB of UNet weights.

struct BenchOptions {
  std::vector<Precision> precisions = {Precision::F32, Precision::BF16};
  int runs = 3;                     // timed runs per stage (median reported), after one warm-up run
  std::vector<std::string> stages;  // empty: all
  uint64_t seed = 1;
  // A checkpoint to time instead of the random in-memory SD 1.5 (loaded with load_sd_model once per
  // precision; `tokenizer` is its --tokenizer folder, may be empty when the model carries one).
  std::string model;
  std::string tokenizer;
  // "sd15" (default) or "sdxl": the random model's shape and the sizes (512 / 1024 pixels) it is timed at.
  std::string family = "sd15";
  // Progress lines (stage started, ...; every timed run with its CLOCK_MONOTONIC start and end, so that a
  // profile taken with `perf record -k CLOCK_MONOTONIC` can be cut to it); may be empty.
  std::function<void(const std::string&)> log;
  // Record the oneDNN kernels of each stage's warm-up run (StageResult::kernels).
  bool kernel_log = true;
};

struct StageResult {
  double seconds = 0;  // median
  double flops = 0;    // per run
  double gflops = 0;
  double peak_fraction = 0;
  // Median process CPU time (user + system, all threads) of a run: divided by the thread count, an estimate
  // of the wall time on an otherwise idle machine (spin-waiting counts, so it errs on the slow side).
  double cpu_seconds = 0;
  // The oneDNN kernels the stage's (untimed) warm-up run executed, most time first.
  std::vector<KernelUse> kernels;
  // The warm-up run (the stage's first call on a fresh model): its extra over `seconds` is the stage's
  // first-call overhead (primitive creation, weight reorders for the shapes it meets, first allocations;
  // with the kernel log on, also oneDNN's verbose logging, a few milliseconds).
  double first_seconds = 0;
  // What the timed phases (core/phase_timer.h) spent inside the warm-up run.
  std::vector<phase_timer::Entry> first_phases;
};

// Building the models of one precision (from --model: opening the file, reading and converting the weights,
// reorders and primitive creation; from random weights: the same without the file).
struct LoadResult {
  double seconds = 0;      // wall
  double cpu_seconds = 0;  // process CPU time (user + system, all threads)
  std::vector<phase_timer::Entry> phases;
};

struct BenchReport {
  // stage -> precision name ("fp32" / "bf16") -> result; peak_fraction is gflops / peaks[precision].gflops.
  std::map<std::string, std::map<std::string, StageResult>> stages;
  // precision name -> the peak the fractions divide by, with every candidate's two measurements.
  std::map<std::string, Peak> peaks;
  // "<stage> <precision>: <percent> of the peak" for every stage above 100 % (the peak missed a faster
  // primitive); empty when the peak is sound.
  std::vector<std::string> over_peak;
  std::vector<std::string> skipped;        // requested stages that could not run, with the reason
  std::map<std::string, LoadResult> load;  // precision name -> the models' building
  double peak_rss_mb = 0;
  // Quality guard: ||UNet_bf16(x) - UNet_fp32(x)|| / ||UNet_fp32(x)|| for the unet_batch1 input (same
  // weights and inputs), when both precisions ran that stage; < 0 otherwise.
  double bf16_unet_rel_error = -1;
  std::string cpu;     // cpu_description()
  std::string isa;     // onednn_isa()
  std::string onednn;  // onednn_version()
  int threads = 0;     // OpenMP threads
};

const char* precision_name(Precision p);  // "fp32" / "bf16"

// Stores `peak` as precision `precision`'s peak, sets that precision's peak_fraction in every stage and
// lists the stages above it in over_peak.
void apply_peak(BenchReport& report, const std::string& precision, Peak peak);

// Throws i2i::Error for an unknown stage name.
BenchReport run_bench(const BenchOptions& options);

// {"cpu": ..., "onednn_isa": ..., "peak": {"<precision>": {"gflops": g, "set_by": ..., "candidates": [...]}},
//  "<stage>": {"<precision>": {"seconds": s, "gflops": g, "peak_fraction": f, "kernels": [...]}}, ...,
//  "peak_rss_mb": m}
std::string report_json(const BenchReport& report);
// A human-readable table.
std::string report_text(const BenchReport& report);

// Peak resident set size of this process so far, in MiB (getrusage ru_maxrss).
double peak_rss_mb();

}  // namespace i2i::bench
