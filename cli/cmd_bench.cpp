// `i2i bench`: times the SD 1.5 (or SDXL) components at full size with random weights (see tools/bench.h).
#include <cstdio>
#include <sstream>

#include "args.h"
#include "commands.h"
#include "core/error.h"
#include "tools/bench.h"

namespace i2i::cli {

int cmd_bench(int argc, char** argv) {
  std::vector<OptionSpec> specs = {
      {"precision", true, "fp32, bf16 or both (default both; bf16 for --model-family sdxl)", "P"},
      {"runs", true, "timed runs per stage, median reported (default 3)", "N"},
      {"stages", true,
       "comma-separated subset of text_encode,image_encode,vae_encode,unet_batch1,unet_cfg_step,"
       "unet_cfg_step_ip,vae_decode,img2img,turbo_img2img,img2img_turbo,annotate_depth,annotate_openpose,"
       "annotate_lineart,annotate_softedge",
       "LIST"},
      {"model-family", true,
       "sd15 (default: 512x512) or sdxl (random SDXL base UNet and VAE at 1024x1024: vae_encode, "
       "unet_batch1, unet_cfg_step, vae_decode)",
       "F"},
      {"seed", true, "seed of the random weights and inputs (default 1)", "N"},
      {"model", true, "time this checkpoint (file or diffusers folder) instead of random weights", "PATH"},
      {"tokenizer", true, "the CLIP tokenizer folder for --model", "DIR"},
      {"json", false, "print the results as JSON"},
      {"quiet", false, "no progress lines on stderr"},
      {"help", false, "this text"}};
  Args args(argc, argv, 2, specs);
  if (args.has("help") || !args.positional().empty()) {
    std::printf(
        "usage: i2i bench [options]\n\nTimes text encoding, the IP-Adapter image encoder (CLIP ViT-H/14, one "
        "picture), VAE encode (512x512), one UNet forward at a "
        "64x64 "
        "latent\n(batch 1 and batch 2 = one CFG step), VAE decode and a whole img2img (strength 0.5, 10 "
        "steps,\nCFG 7) and a Turbo-style img2img (2 steps, strength 0.5, guidance 0, trailing) of a "
        "full-size SD 1.5 model with random weights (or --model; img2img_turbo: the Turbo-style img2img of a "
        "random SD 2.1-size model;\n--model-family sdxl: the SDXL base UNet "
        "and VAE at 1024x1024), the Depth Anything V2 ViT-L and OpenPose body preprocessors (512x512 "
        "picture, processor resolution 512), and the line-art and HED soft-edge annotators (real sizes, "
        "random weights,\none 512x512 map each), after a warm-up. "
        "Reports the CPU, the ISA oneDNN dispatches to, the median seconds, GFLOP/s (analytic FLOP "
        "counts)\nand the fraction of the peak measured in the same run (the best oneDNN matmul or 3x3 "
        "convolution at the\nmodels' shapes, before and after the stages), the oneDNN kernels each stage "
        "ran, and the peak RSS.\n\n%s",
        format_options(specs).c_str());
    return args.has("help") ? 0 : 2;
  }
  bench::BenchOptions o;
  o.family = args.get_or("model-family", "sd15");
  const std::string prec = args.get_or("precision", o.family == "sdxl" ? "bf16" : "both");
  if (prec == "fp32")
    o.precisions = {Precision::F32};
  else if (prec == "bf16")
    o.precisions = {Precision::BF16};
  else if (prec == "both")
    o.precisions = {Precision::F32, Precision::BF16};
  else
    throw Error("bench: --precision must be fp32, bf16 or both, got '" + prec + "'");
  if (auto n = args.integer("runs")) {
    check(*n >= 1 && *n <= 1000, "bench: --runs must be between 1 and 1000");
    o.runs = static_cast<int>(*n);
  }
  if (auto s = args.integer("seed")) o.seed = static_cast<uint64_t>(*s);
  if (auto m = args.get("model")) o.model = *m;
  if (auto t = args.get("tokenizer")) o.tokenizer = *t;
  if (auto list = args.get("stages")) {
    std::stringstream ss(*list);
    std::string item;
    while (std::getline(ss, item, ','))
      if (!item.empty()) o.stages.push_back(item);
    check(!o.stages.empty(), "bench: --stages is empty");
  }
  if (!args.has("quiet"))
    o.log = [](const std::string& s) {
      std::fprintf(stderr, "[bench] %s\n", s.c_str());
      std::fflush(stderr);
    };
  bench::BenchReport r = bench::run_bench(o);
  std::printf("%s\n", (args.has("json") ? bench::report_json(r) : bench::report_text(r)).c_str());
  return 0;
}

}  // namespace i2i::cli
