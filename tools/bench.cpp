#include "tools/bench.h"

#include <omp.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <sstream>

#include "core/error.h"
#include "core/memory.h"
#include "models/clip_text_config.h"
#include "models/clip_vision.h"
#include "models/depth_anything_v2.h"
#include "models/ip_adapter_attention.h"
#include "models/ldm_keys.h"
#include "models/unet_config.h"
#include "models/vae_config.h"
#include "pipelines/img2img.h"
#include "preprocess/annotator_resize.h"
#include "preprocess/depth_map.h"
#include "preprocess/openpose.h"
#include "sampling/rng_torch.h"
#include "tools/bench_annotators.h"
#include "tools/bench_edge_annotators.h"
#include "tools/flops.h"
#include "tools/random_checkpoint.h"

namespace i2i::bench {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int64_t kTokens = 77;
// SDXL's added conditioning: pooled OpenCLIP bigG embedding width and the 6 time ids.
constexpr int64_t kSdxlPooled = 1280, kSdxlTimeIds = 6;
constexpr int64_t kIpTokens = 16;  // an IP-Adapter plus's image tokens

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

Tensor uniform(Shape shape, float lo, float hi, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  Tensor t = Tensor::empty(std::move(shape));
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = dist(rng);
  return t;
}

// An RGB picture of uniform noise.
Image random_picture(int width, int height, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Image img(width, height, 3);
  for (uint8_t& v : img.pixels) v = static_cast<uint8_t>(rng() & 0xff);
  return img;
}

// Seconds on CLOCK_MONOTONIC (steady_clock's clock on Linux; perf's `-k CLOCK_MONOTONIC` timestamps).
double monotonic_seconds(Clock::time_point t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

// User + system CPU time of the whole process so far.
double process_cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         1e-6 * static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Random to_k_ip / to_v_ip layers (fp16, the released adapters' dtype) for every cross-attention of `unet`,
// in the original layout's numbering.
IpAdapterAttention random_ip_adapter(const UNet2DCondition& unet, Precision p, uint64_t seed) {
  Weights w("random IP-Adapter");
  const std::vector<int> ids = ip_adapter_key_ids(unet.transformer_block_names());
  const int64_t cd = unet.config().cross_attention_dim;
  for (size_t i = 0; i < ids.size(); ++i)
    for (const char* kv : {"to_k_ip", "to_v_ip"}) {
      const int64_t width = unet.transformer_block_widths()[i];
      w.add("ip_adapter." + std::to_string(ids[i]) + "." + kv + ".weight",
            uniform({width, cd}, -0.03f, 0.03f, seed++).to(DType::F16));
    }
  return IpAdapterAttention(w, unet, "the benchmark's UNet", p);
}

void log_line(const BenchOptions& o, const std::string& s) {
  if (o.log) o.log(s);
}

}  // namespace

const std::vector<std::string>& all_stages() {
  static const std::vector<std::string> stages = {
      "text_encode",      "image_encode",      "vae_encode",       "unet_batch1",      "unet_cfg_step",
      "unet_cfg_step_ip", "vae_decode",        "img2img",          "turbo_img2img",    "img2img_turbo",
      "annotate_depth",   "annotate_openpose", "annotate_lineart", "annotate_softedge"};
  return stages;
}

const char* precision_name(Precision p) {
  return p == Precision::BF16 ? "bf16" : "fp32";
}

double peak_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;  // KiB on Linux
}

void apply_peak(BenchReport& report, const std::string& precision, Peak peak) {
  for (auto& [stage, per_precision] : report.stages) {
    auto it = per_precision.find(precision);
    if (it == per_precision.end()) continue;
    StageResult& r = it->second;
    r.peak_fraction = peak.gflops > 0 ? r.gflops / peak.gflops : 0;
    if (r.peak_fraction > 1.0) {
      char line[160];
      std::snprintf(line, sizeof line, "%s %s: %.1f %% of the peak", stage.c_str(), precision.c_str(),
                    100.0 * r.peak_fraction);
      report.over_peak.push_back(line);
    }
  }
  report.peaks[precision] = std::move(peak);
}

BenchReport run_bench(const BenchOptions& o) {
  init_runtime();
  std::vector<std::string> stages = o.stages.empty() ? all_stages() : o.stages;
  for (const auto& s : stages)
    check(
        std::find(all_stages().begin(), all_stages().end(), s) != all_stages().end(),
        "bench: unknown stage '" + s +
            "' (stages: text_encode, image_encode, vae_encode, unet_batch1, unet_cfg_step, unet_cfg_step_ip, "
            "vae_decode, img2img, turbo_img2img, img2img_turbo, annotate_depth, annotate_openpose, "
            "annotate_lineart, annotate_softedge)");
  check(o.runs >= 1, "bench: --runs must be at least 1");
  check(o.family == "sd15" || o.family == "sdxl",
        "bench: unknown model family '" + o.family + "' (sd15 or sdxl)");
  const bool sdxl = o.family == "sdxl";
  check(!sdxl || o.model.empty(),
        "bench: --model-family sdxl times random SDXL weights; it takes no --model");
  BenchReport report;
  if (sdxl) {
    // The SDXL bench is the UNet and the VAE at 1024x1024; the rest is not part of it.
    std::vector<std::string> kept;
    for (const auto& s : stages) {
      if (s == "vae_encode" || s == "unet_batch1" || s == "unet_cfg_step" || s == "vae_decode")
        kept.push_back(s);
      else if (!o.stages.empty())
        report.skipped.push_back(s + ": not part of the SDXL bench (UNet and VAE stages only)");
    }
    stages = kept;
  }
  auto wants = [&](const char* s) { return std::find(stages.begin(), stages.end(), s) != stages.end(); };
  // Picture and latent sizes: SD 1.5 at 512x512, SDXL at 1024x1024.
  const int64_t kImage = sdxl ? 1024 : 512, kLatent = kImage / 8;

  report.cpu = cpu_description();
  report.isa = onednn_isa();
  report.onednn = onednn_version();
  report.threads = omp_get_max_threads();

  // The random checkpoint (built once, its models once per precision) or the --model file.
  std::optional<Weights> ck, unet_w, vae_w, text_w;
  UNetConfig unet_cfg;
  VaeConfig vae_cfg;
  ClipTextConfig text_cfg;
  auto load_model = [&](Precision p) {
    SdModelOptions mo;
    if (!o.tokenizer.empty()) mo.tokenizer = o.tokenizer;
    mo.precision = p == Precision::BF16 ? PrecisionChoice::BF16 : PrecisionChoice::F32;
    return load_sd_model(o.model, mo);
  };
  // image_encode, the annotators and img2img_turbo (its own random SD 2.1 unless --model) need no SD model.
  const bool need_sd = std::any_of(stages.begin(), stages.end(), [&](const std::string& s) {
    return s != "image_encode" && s.rfind("annotate_", 0) != 0 && (s != "img2img_turbo" || !o.model.empty());
  });
  if (need_sd && sdxl) {
    log_line(o, "building a random SDXL base UNet and VAE in memory (fp16 weights)");
    ck = random_checkpoint_weights(SdShape::sdxl(), DType::F16, o.seed,
                                   {"model.diffusion_model.", "first_stage_model."});
    unet_w = unet_weights_from_ldm(*ck);
    vae_w = vae_weights_from_ldm(*ck);
    ck.reset();
    unet_cfg = infer_unet_config(*unet_w);
    vae_cfg = infer_vae_config(*vae_w);
    text_cfg.hidden_size = unet_cfg.cross_attention_dim;  // the context width (CLIP-L + bigG features)
  } else if (need_sd && o.model.empty()) {
    log_line(o, "building a random SD 1.5 checkpoint in memory (fp16 weights)");
    ck = random_checkpoint_weights(SdShape::sd15(), DType::F16, o.seed);
    unet_w = unet_weights_from_ldm(*ck);
    vae_w = vae_weights_from_ldm(*ck);
    text_w = ck->sub("cond_stage_model.transformer.");
    unet_cfg = infer_unet_config(*unet_w);
    vae_cfg = infer_vae_config(*vae_w);
    text_cfg = infer_clip_text_config(*text_w, nullptr, ClipActivation::QuickGelu, false);
  }
  // The --model file at the first precision, loaded once: its configuration is read from it and its stages
  // run on it (so that the load timed is the process's first, as a command-line run's is).
  std::optional<SdModel> preloaded;
  LoadResult preload;
  auto timed_load = [&](Precision p, LoadResult& lr) {
    phase_timer::enable(true);
    phase_timer::reset();
    const double c0 = process_cpu_seconds();
    const auto t0 = Clock::now();
    SdModel m = load_model(p);
    lr.seconds = seconds_since(t0);
    lr.cpu_seconds = process_cpu_seconds() - c0;
    lr.phases = phase_timer::snapshot();
    phase_timer::enable(false);
    return m;
  };
  if (need_sd && !sdxl && !o.model.empty()) {
    log_line(o, std::string(precision_name(o.precisions[0])) + ": loading " + o.model);
    preloaded.emplace(timed_load(o.precisions[0], preload));
    unet_cfg = preloaded->unet.config();
    vae_cfg = preloaded->vae.config();
    text_cfg = preloaded->text_encoder.config();
  }

  // Inputs: two prompts' token ids (a CFG pair), a 512x512 image, a 64x64 latent, contexts.
  Tensor ids = Tensor::empty({2, kTokens}, DType::I64);
  {
    std::mt19937_64 rng(o.seed + 1);
    for (int64_t i = 0; i < ids.numel(); ++i)
      ids.data<int64_t>()[i] = static_cast<int64_t>(rng() % static_cast<uint64_t>(text_cfg.vocab_size));
  }
  const Tensor image = uniform({1, kImage, kImage, 3}, -1.f, 1.f, o.seed + 2);
  const Tensor latent1 = uniform({1, kLatent, kLatent, 4}, -1.f, 1.f, o.seed + 3);
  const Tensor latent2 = uniform({2, kLatent, kLatent, 4}, -1.f, 1.f, o.seed + 4);
  const Tensor context2 = uniform({2, kTokens, text_cfg.hidden_size}, -1.f, 1.f, o.seed + 5);
  const Tensor context1 = context2.slice0(0, 1).clone();
  // The UNet's conditioning: the context alone, or for SDXL also pooled text embeds and the time ids of a
  // 1024x1024 picture (original size, crop top-left, target size).
  auto conditioning = [&](const Tensor& context) {
    UNetConditioning cond;
    cond.context = context;
    if (sdxl) {
      const int64_t b = context.dim(0);
      cond.text_embeds = uniform({b, kSdxlPooled}, -1.f, 1.f, o.seed + 8);
      cond.time_ids = Tensor::empty({b, kSdxlTimeIds});
      const float ids[kSdxlTimeIds] = {1024, 1024, 0, 0, 1024, 1024};
      for (int64_t i = 0; i < b; ++i)
        std::copy(ids, ids + kSdxlTimeIds, cond.time_ids.data<float>() + i * kSdxlTimeIds);
    }
    return cond;
  };
  const UNetConditioning cond1 = conditioning(context1), cond2 = conditioning(context2);

  // (Without an SD model the configurations are incomplete: their counts are not needed.)
  const double text_flops = need_sd ? clip_text_flops(text_cfg, 2, kTokens) : 0;
  const double enc_flops = need_sd ? vae_encode_flops(vae_cfg, 1, kImage, kImage) : 0;
  const double unet1_flops = need_sd ? unet_forward_flops(unet_cfg, 1, kLatent, kLatent, kTokens) : 0;
  const double unet2_flops = need_sd ? unet_forward_flops(unet_cfg, 2, kLatent, kLatent, kTokens) : 0;
  // An IP-Adapter's extra attention costs what kIpTokens more context tokens cost (to_k_ip / to_v_ip on the
  // image tokens, Q K^T and P V over them; two softmaxes or one is the same count).
  const double unet2_ip_flops =
      need_sd ? unet_forward_flops(unet_cfg, 2, kLatent, kLatent, kTokens + kIpTokens) : 0;
  const Tensor ip_tokens = uniform({2, kIpTokens, unet_cfg.cross_attention_dim}, -1.f, 1.f, o.seed + 7);
  const double dec_flops = need_sd ? vae_decode_flops(vae_cfg, 1, kLatent, kLatent) : 0;
  const double turbo_flops =
      need_sd && !sdxl ? clip_text_flops(text_cfg, 1, kTokens) + enc_flops + unet1_flops + dec_flops : 0;

  // image_encode: the IP-Adapter image encoder (CLIP ViT-H/14, random weights) on one picture.
  const ClipVisionConfig vision_cfg;  // the defaults are ViT-H/14
  const Tensor pixels = uniform({1, vision_cfg.image_size, vision_cfg.image_size, 3}, -2.f, 2.f, o.seed + 6);
  const double vision_flops = clip_vision_flops(vision_cfg, 1);

  const int denoise_steps = static_cast<int>(kImg2ImgSteps * kImg2ImgStrength);
  const double img2img_flops = text_flops + enc_flops + denoise_steps * unet2_flops + dec_flops;

  Tensor unet1_out[2];  // unet_batch1 output per precision (fp32, bf16), for the quality guard
  for (Precision p : o.precisions) {
    const std::string pn = precision_name(p);
    // The peak is measured before and after the stages, every candidate both times, and the best figure
    // kept (on a shared machine a single measurement can be disturbed); the fractions are set at the end.
    log_line(o, pn + ": measuring the peak (oneDNN matmul and 3x3 convolution, " +
                    std::to_string(peak_shapes().size()) + " shapes, until stable)");
    std::vector<PeakCandidate> candidates = measure_peak_candidates(p);
    log_line(o, pn + ": peak before the stages " +
                    std::to_string(static_cast<int>(choose_peak(candidates).gflops)) +
                    " GFLOP/s; building models");

    const bool whole =
        wants("img2img") || wants("turbo_img2img") || (wants("img2img_turbo") && !o.model.empty());
    const bool need_text = wants("text_encode") || whole;
    const bool need_unet =
        wants("unet_batch1") || wants("unet_cfg_step") || wants("unet_cfg_step_ip") || whole;
    const bool need_vae = wants("vae_encode") || wants("vae_decode") || whole;
    // One SdModel holds the models (run_img2img takes it whole); components no stage needs stay empty.
    std::optional<SdModel> model;
    // The load breakdown: every phase of building the models (core/phase_timer.h).
    if (preloaded) {
      model = std::move(preloaded);
      preloaded.reset();
      report.load[pn] = preload;
    } else if (!o.model.empty() && need_sd) {
      log_line(o, pn + ": loading " + o.model);
      model.emplace(timed_load(p, report.load[pn]));
    } else {
      phase_timer::enable(true);
      phase_timer::reset();
      const double load_c0 = process_cpu_seconds();
      const auto load_t0 = Clock::now();
      model.emplace();
      model->precision = p;
      model->scheduler_config = sd15_scheduler_config();
      if (need_text) model->text_encoder = ClipTextEncoder(*text_w, text_cfg, p);
      if (need_unet) model->unet = UNet2DCondition(*unet_w, unet_cfg, p);
      if (need_vae) model->vae = AutoencoderKL(*vae_w, vae_cfg, p);
      if (need_sd) {
        LoadResult& lr = report.load[pn];
        lr.seconds = seconds_since(load_t0);
        lr.cpu_seconds = process_cpu_seconds() - load_c0;
        lr.phases = phase_timer::snapshot();
      }
      phase_timer::enable(false);
    }
    const ClipTextEncoder* text = &model->text_encoder;
    const UNet2DCondition* unet = &model->unet;
    const AutoencoderKL* vae = &model->vae;

    auto time_stage = [&](const std::string& stage, double flops, const std::function<void()>& fn) {
      if (!wants(stage.c_str())) return;
      log_line(o, pn + ": " + stage + " (warm-up + " + std::to_string(o.runs) + " runs)");
      StageResult res;
      {
        // Warm-up: primitives created, buffers allocated; timed as the first call, with its phases, and the
        // oneDNN kernels it runs recorded.
        std::optional<OnednnVerboseCapture> capture;
        if (o.kernel_log) capture.emplace();
        phase_timer::enable(true);
        phase_timer::reset();
        const auto t0 = Clock::now();
        fn();
        res.first_seconds = seconds_since(t0);
        res.first_phases = phase_timer::snapshot();
        phase_timer::enable(false);
        if (capture) res.kernels = capture->finish();
      }
      std::vector<double> times, cpu;
      for (int r = 0; r < o.runs; ++r) {
        const double c0 = process_cpu_seconds();
        auto t0 = Clock::now();
        fn();
        const auto t1 = Clock::now();
        times.push_back(std::chrono::duration<double>(t1 - t0).count());
        cpu.push_back(process_cpu_seconds() - c0);
        char line[200];
        std::snprintf(line, sizeof line, "%s: %s run %d: %.3f s, CLOCK_MONOTONIC %.6f to %.6f", pn.c_str(),
                      stage.c_str(), r + 1, times.back(), monotonic_seconds(t0), monotonic_seconds(t1));
        log_line(o, line);
      }
      res.seconds = median(times);
      res.cpu_seconds = median(cpu);
      res.flops = flops;
      res.gflops = flops / res.seconds * 1e-9;
      report.stages[stage][pn] = res;
    };

    time_stage("text_encode", text_flops, [&] { text->forward(ids); });
    time_stage("vae_encode", enc_flops, [&] { vae->encode(image); });
    time_stage("unet_batch1", unet1_flops,
               [&] { unet1_out[p == Precision::BF16] = unet->forward(latent1, {500.f}, cond1); });
    time_stage("unet_cfg_step", unet2_flops, [&] { unet->forward(latent2, {500.f}, cond2); });
    if (wants("unet_cfg_step_ip")) {
      const IpAdapterAttention ip = random_ip_adapter(*unet, p, o.seed + 100);
      UNetConditioning cond;
      cond.context = context2;
      cond.image_prompts.push_back({&ip, ip_tokens, {}, 1.f});
      time_stage("unet_cfg_step_ip", unet2_ip_flops, [&] { unet->forward(latent2, {500.f}, cond); });
    }
    time_stage("vae_decode", dec_flops, [&] { vae->decode(latent1); });
    time_stage("img2img", img2img_flops, [&] {
      // The prompt pair (negative first, as the pipeline orders its CFG batch) through the text encoder.
      const Tensor embeds = text->forward(ids).last_hidden_state;  // [2, T, D]
      Img2ImgRequest req;
      req.init_image = image;
      req.negative_prompt_embeds = embeds.slice0(0, 1).clone();
      req.prompt_embeds = embeds.slice0(1, 2).clone();
      req.strength = kImg2ImgStrength;
      req.steps = kImg2ImgSteps;
      req.cfg_scale = kImg2ImgCfg;
      TorchCpuGenerator gen(o.seed);
      run_img2img(*model, req, {&gen});
    });
    const Tensor prompt_ids = ids.slice0(1, 2).clone();  // one prompt
    time_stage("turbo_img2img", turbo_flops, [&] { run_turbo_img2img(*model, prompt_ids, image, o.seed); });
    if (!o.model.empty())  // img2img_turbo times the --model file, as turbo_img2img does
      time_stage("img2img_turbo", turbo_flops, [&] { run_turbo_img2img(*model, prompt_ids, image, o.seed); });
    model.reset();
    if (wants("img2img_turbo") && o.model.empty()) {
      // A random SD 2.1-size model (SD-Turbo's architecture), built after the SD 1.5 models are gone (and,
      // at the last precision, the random SD 1.5 weights: no later stage needs them).
      if (p == o.precisions.back()) {
        unet_w.reset();
        vae_w.reset();
        text_w.reset();
        ck.reset();
      }
      log_line(o, pn + ": building a random SD 2.1-size model (fp16 weights)");
      const SdModel turbo = random_sd2_model(SdShape::sd21(), p, o.seed + 400);
      time_stage("img2img_turbo", turbo_img2img_flops(turbo, kImage, kTokens),
                 [&] { run_turbo_img2img(turbo, prompt_ids, image, o.seed); });
    }
    if (wants("image_encode")) {
      // Built here, after the SD models are gone, so that it does not add to their peak RSS; the random
      // weights (fp16, as real encoders ship) are dropped once the layers hold their prepared copies.
      log_line(o, pn + ": building a random CLIP ViT-H/14 image encoder");
      std::optional<ClipVisionEncoder> vision;
      {
        const Weights vw = random_clip_vision_weights(vision_cfg, DType::F16, o.seed);
        vision.emplace(vw, vision_cfg, p);
      }
      time_stage("image_encode", vision_flops, [&] { vision->forward(pixels); });
    }
    if (wants("annotate_depth")) {
      // A1111's depth_anything_v2 preprocessor on a 512x512 picture at processor resolution 512 (network
      // input 518x518), with a random ViT-L (float32 weights, as the released file), built after the SD
      // models are gone; the whole map is timed (resize, network, colour-free 8-bit map).
      log_line(o, pn + ": building a random Depth Anything V2 ViT-L");
      const DepthAnythingV2Config depth_cfg = depth_anything_v2_vitl();
      std::optional<DepthAnythingV2> depth;
      {
        const Weights dw = random_depth_anything_v2_weights(depth_cfg, DType::F32, o.seed);
        depth.emplace(dw, depth_cfg, p);
      }
      Image picture(static_cast<int>(kImage), static_cast<int>(kImage), 3);
      const Tensor src = uniform({1, kImage, kImage, 3}, 0.f, 255.f, o.seed + 7);
      for (size_t i = 0; i < picture.pixels.size(); ++i)
        picture.pixels[i] = static_cast<uint8_t>(src.data<float>()[i]);
      time_stage("annotate_depth", depth_anything_v2_flops(depth_cfg, 37, 37),
                 [&] { depth_anything_v2_map(*depth, picture, 512, false); });
    }
    if (wants("annotate_openpose")) {
      // A1111's openpose preprocessor on a 512x512 picture at processor resolution 512 (the network sees
      // 184x184), with a real-size body model of random weights (52.3M parameters), built after the SD
      // models are gone; the whole map is timed (resize, network, map resizes, peaks, people, drawing).
      log_line(o, pn + ": building a random OpenPose body model (real size)");
      std::optional<OpenposeBody> body;
      {
        const Weights bw = random_openpose_body_weights(OpenposeBodyConfig{}, DType::F32, o.seed + 7);
        body.emplace(bw, p);
      }
      const Image picture = random_picture(512, 512, o.seed + 8);
      const OpenposeNetInput in = openpose_net_input(resize_image_with_pad(picture, 512).image);
      const double flops = openpose_body_flops(body->config(), in.image.dim(1), in.image.dim(2));
      time_stage("annotate_openpose", flops, [&] { openpose_a1111(picture, *body, 512); });
    }
    // The line-art and soft-edge annotators (tools/bench_edge_annotators.h), after the SD models are gone.
    if (wants("annotate_lineart")) {
      log_line(o, pn + ": building a random line-art generator (sk_model size)");
      const AnnotatorStage a = lineart_stage(p, o.seed + 200);
      time_stage("annotate_lineart", a.flops, a.run);
    }
    if (wants("annotate_softedge")) {
      log_line(o, pn + ": building a random ControlNetHED");
      const AnnotatorStage a = softedge_stage(p, o.seed + 300);
      time_stage("annotate_softedge", a.flops, a.run);
    }
    remeasure_peak_candidates(candidates, p);
    Peak peak = choose_peak(std::move(candidates));
    log_line(o, pn + ": peak after the stages " + std::to_string(static_cast<int>(peak.after_gflops)) +
                    " GFLOP/s; the peak " + std::to_string(static_cast<int>(peak.gflops)) + " GFLOP/s (" +
                    peak.set_by + ", " + peak.impl + ", " + peak.when + ")");
    apply_peak(report, pn, std::move(peak));
  }
  if (unet1_out[0].defined() && unet1_out[1].defined()) {
    double num = 0, den = 0;
    const float* a = unet1_out[1].data<float>();
    const float* b = unet1_out[0].data<float>();
    for (int64_t i = 0; i < unet1_out[0].numel(); ++i) {
      num += (static_cast<double>(a[i]) - b[i]) * (static_cast<double>(a[i]) - b[i]);
      den += static_cast<double>(b[i]) * b[i];
    }
    report.bf16_unet_rel_error = den > 0 ? std::sqrt(num / den) : -1;
  }
  report.peak_rss_mb = peak_rss_mb();
  return report;
}

namespace {

nlohmann::ordered_json measurement_json(const PeakMeasurement& m) {
  return {{"seconds", m.seconds}, {"gflops", m.gflops}, {"reps", m.reps}};
}

}  // namespace

std::string report_json(const BenchReport& r) {
  nlohmann::ordered_json j;
  j["cpu"] = r.cpu;
  j["onednn"] = r.onednn;
  j["onednn_isa"] = r.isa;
  j["threads"] = r.threads;
  for (const auto& [pn, peak] : r.peaks) {
    nlohmann::ordered_json c = nlohmann::ordered_json::array();
    for (const PeakCandidate& k : peak.candidates)
      c.push_back({{"name", k.name},
                   {"impl", k.impl},
                   {"flops", k.flops},
                   {"before", measurement_json(k.before)},
                   {"after", measurement_json(k.after)}});
    j["peak"][pn] = {{"gflops", peak.gflops},
                     {"seconds", peak.seconds},
                     {"set_by", peak.set_by},
                     {"impl", peak.impl},
                     {"when", peak.when},
                     {"before_gflops", peak.before_gflops},
                     {"after_gflops", peak.after_gflops},
                     {"candidates", c}};
  }
  for (const auto& stage : all_stages()) {
    auto it = r.stages.find(stage);
    if (it == r.stages.end()) continue;
    for (const auto& [pn, res] : it->second) {
      nlohmann::ordered_json kernels = nlohmann::ordered_json::array();
      for (const KernelUse& k : res.kernels)
        kernels.push_back({{"primitive", k.primitive}, {"impl", k.impl}, {"calls", k.calls}, {"ms", k.ms}});
      j[stage][pn] = {{"seconds", res.seconds},
                      {"gflops", res.gflops},
                      {"peak_fraction", res.peak_fraction},
                      {"cpu_seconds", res.cpu_seconds},
                      {"kernels", kernels}};
    }
  }
  j["over_peak"] = r.over_peak;
  auto phases_json = [](const std::vector<phase_timer::Entry>& entries) {
    nlohmann::ordered_json a = nlohmann::ordered_json::array();
    for (const auto& e : entries)
      a.push_back(
          {{"component", e.component}, {"phase", e.phase}, {"seconds", e.seconds}, {"count", e.count}});
    return a;
  };
  for (const auto& [pn, l] : r.load)
    j["load"][pn] = {
        {"seconds", l.seconds}, {"cpu_seconds", l.cpu_seconds}, {"phases", phases_json(l.phases)}};
  for (const auto& stage : all_stages()) {
    auto it = r.stages.find(stage);
    if (it == r.stages.end()) continue;
    for (const auto& [pn, res] : it->second)
      j["first_step_overhead"][stage][pn] = {{"seconds", res.first_seconds - res.seconds},
                                             {"first_seconds", res.first_seconds},
                                             {"phases", phases_json(res.first_phases)}};
  }
  j["peak_rss_mb"] = r.peak_rss_mb;
  if (r.bf16_unet_rel_error >= 0) j["bf16_unet_rel_error"] = r.bf16_unet_rel_error;
  return j.dump(2);
}

std::string report_text(const BenchReport& r) {
  std::ostringstream out;
  char line[320];
  out << "cpu: " << r.cpu << ", " << r.threads << " OpenMP threads; oneDNN " << r.onednn << " dispatching to "
      << r.isa << "\n";
  for (const char* pn : {"fp32", "bf16"}) {
    auto it = r.peaks.find(pn);
    if (it == r.peaks.end()) continue;
    const Peak& p = it->second;
    std::snprintf(line, sizeof line,
                  "%s peak %.1f GFLOP/s: %s (%s), measured %s the stages (best before %.1f, after %.1f)\n",
                  pn, p.gflops, p.set_by.c_str(), p.impl.c_str(), p.when.c_str(), p.before_gflops,
                  p.after_gflops);
    out << line;
    for (const PeakCandidate& c : p.candidates) {
      std::snprintf(line, sizeof line, "  %-30s %-26s before %8.1f (%2d reps)  after %8.1f (%2d reps)\n",
                    c.name.c_str(), c.impl.c_str(), c.before.gflops, c.before.reps, c.after.gflops,
                    c.after.reps);
      out << line;
    }
  }
  std::snprintf(line, sizeof line, "%-17s %-5s %10s %10s %10s %9s %10s\n", "stage", "prec", "seconds",
                "GFLOP", "GFLOP/s", "of peak", "cpu s/thr");
  out << line;
  for (const auto& stage : all_stages()) {
    auto it = r.stages.find(stage);
    if (it == r.stages.end()) continue;
    for (const char* pn : {"fp32", "bf16"}) {
      auto jt = it->second.find(pn);
      if (jt == it->second.end()) continue;
      const StageResult& s = jt->second;
      std::snprintf(line, sizeof line, "%-17s %-5s %10.3f %10.1f %10.1f %8.1f%% %10.3f\n", stage.c_str(), pn,
                    s.seconds, s.flops * 1e-9, s.gflops, 100.0 * s.peak_fraction,
                    s.cpu_seconds / std::max(1, r.threads));
      out << line;
    }
  }
  // The oneDNN kernels of each stage's warm-up run.
  for (const auto& stage : all_stages()) {
    auto it = r.stages.find(stage);
    if (it == r.stages.end()) continue;
    for (const char* pn : {"fp32", "bf16"}) {
      auto jt = it->second.find(pn);
      if (jt == it->second.end() || jt->second.kernels.empty()) continue;
      const StageResult& s = jt->second;
      double ms = 0;
      for (const KernelUse& k : s.kernels) ms += k.ms;
      std::snprintf(line, sizeof line, "kernels %s %s (warm-up run %.3f s, oneDNN %.3f s of it):\n",
                    stage.c_str(), pn, s.first_seconds, ms * 1e-3);
      out << line;
      for (const KernelUse& k : s.kernels) {
        std::snprintf(line, sizeof line, "  %-12s %-32s %6ld calls %10.1f ms\n", k.primitive.c_str(),
                      k.impl.c_str(), k.calls, k.ms);
        out << line;
      }
    }
  }
  for (const auto& s : r.over_peak)
    out << "over the peak (the peak missed a faster primitive): " << s << "\n";
  for (const auto& [pn, l] : r.load) {
    std::snprintf(line, sizeof line, "load %s: %.3f s wall, %.3f s cpu\n", pn.c_str(), l.seconds,
                  l.cpu_seconds);
    out << line << phase_timer::format(l.phases, "  ");
  }
  for (const auto& stage : all_stages()) {
    auto it = r.stages.find(stage);
    if (it == r.stages.end()) continue;
    for (const auto& [pn, res] : it->second) {
      std::snprintf(line, sizeof line,
                    "first_step_overhead %s %s: %.3f s (first call %.3f s, median %.3f s)\n", stage.c_str(),
                    pn.c_str(), res.first_seconds - res.seconds, res.first_seconds, res.seconds);
      out << line << phase_timer::format(res.first_phases, "  ");
    }
  }
  for (const auto& s : r.skipped) out << "skipped: " << s << "\n";
  std::snprintf(line, sizeof line, "peak RSS: %.0f MiB\n", r.peak_rss_mb);
  out << line;
  if (r.bf16_unet_rel_error >= 0) {
    std::snprintf(line, sizeof line, "bf16 vs fp32 UNet output (unet_batch1), relative error: %.3g\n",
                  r.bf16_unet_rel_error);
    out << line;
  }
  return out.str();
}

}  // namespace i2i::bench
