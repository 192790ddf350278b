// `i2i style-transfer --content PHOTO --style PAINTING --model M --ip-adapter F [--prompt ...] -o out.png`:
// "make my photo look like this painting" in one command. A thin preset over `i2i img2img`: the flags
// become an img2img of the content picture with an IP-Adapter unit reading the style picture in
// InstantStyle's "style" layers (and, with --control-model, a Canny ControlNet unit of the content picture),
// and run through the same code, so the output PNG records an ordinary img2img that `i2i img2img --from-png`
// repeats.
//
// Defaults and why (README "Style transfer"):
//   --strength 0.6          the content's composition and shapes survive, its colours and textures are
//                           redrawn (0.3 only restyles the surface; 0.8 keeps little of the photo)
//   --ip-adapter-mode style InstantStyle: the style picture acts only in the layers that carry style
//                           (SD 1.x: up_blocks.1; SDXL: up_blocks.0.attentions.1), so its content (objects,
//                           layout) does not leak into the result
//   --ip-adapter-scale 1    full strength in those layers (InstantStyle's examples)
//   --cfg-scale 5, --steps 30  InstantStyle's examples (guidance_scale 5, 30 steps)
//   --negative-prompt       InstantStyle's examples' negative prompt (unless one is given)
//   --control-weight 0.6    with --control-model: InstantStyle's ControlNet scale; --control-preprocess canny
#include <cstdio>
#include <string>
#include <vector>

#include "args.h"
#include "commands.h"
#include "core/error.h"

namespace i2i::cli {
namespace {

const char* const kNegative =
    "text, watermark, lowres, low quality, worst quality, deformed, glitch, low contrast, noisy, saturation, "
    "blurry";

const std::vector<OptionSpec>& style_transfer_options() {
  static const std::vector<OptionSpec> specs = {
      {"content", true, "the picture to restyle (its composition is kept)", "PHOTO"},
      {"style", true, "the picture whose style is taken (read by the IP-Adapter)", "PAINTING"},
      {"model", true, "checkpoint (.safetensors) or diffusers folder", "PATH"},
      {"ip-adapter", true, "IP-Adapter file (h94 .safetensors, base or plus)", "FILE"},
      {"image-encoder", true,
       "its CLIP vision encoder (default: image_encoder/ beside the adapter or one up)", "DIR"},
      {"prompt", true, "what the picture shows (optional; helps the content survive)", "TEXT"},
      {"negative-prompt", true, "what it should not show (default: InstantStyle's)", "TEXT"},
      {"strength", true, "how much of the content is redrawn, 0..1 (default 0.6)", "S"},
      {"ip-adapter-scale", true, "how strongly the style acts (default 1)", "S"},
      {"ip-adapter-mode", true, "style (default), composition, style+composition or all", "MODE"},
      {"ip-adapter-layers", true, "explicit per-layer scales instead of a mode (as img2img)", "NAME=S,..."},
      {"control-model", true, "a Canny ControlNet: keeps the content's edges (optional)", "PATH"},
      {"control-weight", true, "its weight (default 0.6)", "W"},
      {"control-preprocess", true, "its preprocessor (default canny)", "NAME"},
      {"steps", true, "sampling steps (default 30)", "N"},
      {"cfg-scale", true, "guidance scale (default 5)", "G"},
      {"sampler", true, "sampler (default \"Euler a\")", "NAME"},
      {"scheduler", true,
       "schedule type: automatic (default), karras, normal or trailing (diffusers' "
       "timestep_spacing=\"trailing\", for SD-Turbo / SDXL-Turbo)",
       "TYPE"},
      {"seed", true, "random seed (default -1: a random one, printed)", "N"},
      {"width", true, "output width (default: the content's, rounded down to a multiple of 8)", "W"},
      {"height", true, "output height", "H"},
      {"resize-mode", true, "\"just resize\" (default), \"crop and resize\" or \"resize and fill\"", "MODE"},
      {"rng", true, "noise source: cpu (default) or gpu", "SRC"},
      {"batch-count", true, "how many batches to make (default 1)", "N"},
      {"batch-size", true, "images per batch (default 1)", "N"},
      {"output", true, "output PNG (default output.png; existing files are not overwritten: numbered)",
       "FILE"},
      {"overwrite", false, "replace existing output files"},
      {"vae", true, "a VAE to use instead of the checkpoint's", "PATH"},
      {"tokenizer", true, "folder with the CLIP vocab.json and merges.txt", "DIR"},
      {"model-config", true, "model configuration (diffusers-style JSON or LDM YAML)", "FILE"},
      {"prediction", true, "prediction type for a bare SD 2.x file: v (default) or eps", "TYPE"},
      {"precision", true, "auto (default), fp32 or bf16", "P"},
      {"quiet", false, "no progress bar"},
      {"help", false, "this text"},
  };
  return specs;
}

}  // namespace

int cmd_style_transfer(int argc, char** argv) {
  const auto& options = style_transfer_options();
  Args a(argc, argv, 2, options);
  if (a.has("help")) {
    std::printf(
        "usage: i2i style-transfer --content PHOTO --style PAINTING --model PATH --ip-adapter FILE "
        "[--prompt TEXT] [options]\n\nAn img2img of the content picture at strength 0.6 with an IP-Adapter "
        "reading the style picture in its style layers only (InstantStyle).\n\n%s",
        format_options(options).c_str());
    return 0;
  }
  if (!a.positional().empty()) throw Error("unexpected argument '" + a.positional()[0] + "'");
  for (const char* required : {"content", "style", "model", "ip-adapter"})
    if (!a.has(required))
      throw Error(std::string("--") + required +
                  " is required (i2i style-transfer --content PHOTO --style "
                  "PAINTING --model PATH --ip-adapter FILE)");
  if (a.has("control-preprocess") && !a.has("control-model"))
    throw Error(
        "--control-preprocess needs --control-model (a ControlNet for that preprocessor, e.g. Canny)");
  if (a.has("control-weight") && !a.has("control-model"))
    throw Error("--control-weight needs --control-model");
  const bool layers = a.has("ip-adapter-layers");
  if (layers && a.has("ip-adapter-mode"))
    throw Error("give --ip-adapter-mode or --ip-adapter-layers, not both");

  const std::string content = *a.get("content");
  std::vector<std::string> args = {"i2i", "img2img", "--init", content, "--model", *a.get("model"),
                                   // the IP-Adapter unit: its flags follow --ip-adapter
                                   "--ip-adapter", *a.get("ip-adapter"), "--ip-adapter-image",
                                   *a.get("style"), "--ip-adapter-scale", a.get_or("ip-adapter-scale", "1")};
  if (layers) {
    args.insert(args.end(), {"--ip-adapter-layers", *a.get("ip-adapter-layers")});
  } else {
    args.insert(args.end(), {"--ip-adapter-mode", a.get_or("ip-adapter-mode", "style")});
  }
  if (auto v = a.get("image-encoder")) args.insert(args.end(), {"--image-encoder", *v});
  args.insert(args.end(), {"--prompt", a.get_or("prompt", ""), "--negative-prompt",
                           a.get_or("negative-prompt", kNegative), "--strength", a.get_or("strength", "0.6"),
                           "--steps", a.get_or("steps", "30"), "--cfg-scale", a.get_or("cfg-scale", "5")});
  if (auto m = a.get("control-model"))
    args.insert(args.end(), {"--control", content, "--control-model", *m, "--control-preprocess",
                             a.get_or("control-preprocess", "canny"), "--control-weight",
                             a.get_or("control-weight", "0.6")});
  for (const char* passed :
       {"sampler", "scheduler", "seed", "width", "height", "resize-mode", "rng", "batch-count", "batch-size",
        "output", "vae", "tokenizer", "model-config", "prediction", "precision"})
    if (auto v = a.get(passed)) args.insert(args.end(), {std::string("--") + passed, *v});
  for (const char* flag : {"overwrite", "quiet"})
    if (a.has(flag)) args.push_back(std::string("--") + flag);

  std::vector<char*> img2img_argv;
  for (std::string& s : args) img2img_argv.push_back(s.data());
  return cmd_img2img(static_cast<int>(img2img_argv.size()), img2img_argv.data());
}

}  // namespace i2i::cli
