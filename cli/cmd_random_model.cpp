// `i2i random-model OUT`: writes a Stable Diffusion checkpoint with random weights in the original
// single-file layout — the real SD 1.5, SD 2.1 or SDXL base shapes, SD 1.5 by default — for benchmarks and
// load tests.
#include <cstdio>

#include "args.h"
#include "commands.h"
#include "core/error.h"
#include "output_names.h"
#include "tools/random_checkpoint.h"

namespace i2i::cli {

int cmd_random_model(int argc, char** argv) {
  std::vector<OptionSpec> specs = {
      {"shape", true,
       "sd15 (default, 1.07B parameters), sd21 (SD 2.1 / SD-Turbo, 1.30B), sdxl (SDXL base, 3.47B: fp16 "
       "file 6.9 GB), or tiny, tiny-sd2, tiny-sdxl (the fixtures' tiny-sd15, tiny-sd2v, tiny-sdxl shapes)",
       "S"},
      {"dtype", true, "f16 (default), bf16 or f32", "T"},
      {"seed", true, "random seed (default 0)", "N"},
      {"overwrite", false, "replace an existing file"},
      {"help", false, "this text"}};
  Args a(argc, argv, 2, specs);
  if (a.has("help") || a.positional().size() != 1) {
    std::printf("usage: i2i random-model OUT.safetensors [options]\n\n%s", format_options(specs).c_str());
    return a.has("help") ? 0 : 2;
  }
  std::string shape = a.get_or("shape", "sd15"), dtype = a.get_or("dtype", "f16");
  SdShape s;
  if (shape == "sd15")
    s = SdShape::sd15();
  else if (shape == "sd21")
    s = SdShape::sd21();
  else if (shape == "sdxl")
    s = SdShape::sdxl();
  else if (shape == "tiny")
    s = SdShape::tiny_sd15();
  else if (shape == "tiny-sd2")
    s = SdShape::tiny_sd2();
  else if (shape == "tiny-sdxl")
    s = SdShape::tiny_sdxl();
  else
    throw Error("unknown --shape '" + shape + "' (sd15, sd21, sdxl, tiny, tiny-sd2 or tiny-sdxl)");
  DType t;
  if (dtype == "f16" || dtype == "fp16")
    t = DType::F16;
  else if (dtype == "bf16")
    t = DType::BF16;
  else if (dtype == "f32" || dtype == "fp32")
    t = DType::F32;
  else
    throw Error("unknown --dtype '" + dtype + "' (f16, bf16 or f32)");
  std::filesystem::path out = a.positional()[0];
  OutputCheck out_check;
  out_check.flag = "";
  out_check.extension = ".safetensors";
  out_check.why_extension = "i2i reads checkpoints from .safetensors files";
  out_check.overwrite = a.has("overwrite");
  out_check.numbered = false;
  check_output(out, out_check);
  write_random_checkpoint(out, s, t, static_cast<uint64_t>(a.integer("seed").value_or(0)));
  std::printf("%s\n", out.c_str());
  return 0;
}

}  // namespace i2i::cli
