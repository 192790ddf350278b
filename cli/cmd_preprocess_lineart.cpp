// `i2i preprocess lineart IMAGE [--annotator-model FILE] [--coarse] [--detect-resolution 512]
// [--image-resolution 512] -o lineart.png`: controlnet_aux's LineartDetector (dark lines on white), the map
// the lineart_realistic / lineart_coarse ControlNets take.
#include <cstdio>

#include "args.h"
#include "cmd_preprocess.h"
#include "core/error.h"
#include "io/image.h"
#include "models/lineart_generator.h"
#include "output_names.h"
#include "preprocess/aux_resize.h"
#include "preprocess/lineart.h"
#include "preprocess_aux_options.h"

namespace i2i::cli {
namespace {

const std::vector<OptionSpec>& lineart_options() {
  static const std::vector<OptionSpec> specs = {
      {"annotator-model", true,
       "the line-art generator: sk_model.pth (realistic) or sk_model2.pth (coarse) as .safetensors", "FILE"},
      {"models-dir", true, kModelsDirHelp, "DIR"},
      {"coarse", false,
       "the file is sk_model2 (lineart_coarse; the same network, so only the default output name changes)"},
      {"detect-resolution", true, "the short side the network sees, rounded to multiples of 64 (default 512)",
       "N"},
      {"image-resolution", true, "the short side of the written map (default 512)", "N"},
      {"precision", true, "auto (default), fp32 or bf16", "P"},
      {"output", true, "output PNG (default lineart.png; an existing file is not replaced: numbered)",
       "FILE"},
      {"overwrite", false, "replace an existing output file"},
      {"help", false, "this text"},
  };
  return specs;
}

}  // namespace

int cmd_preprocess_lineart(int argc, char** argv) {
  Args a(argc, argv, 3, lineart_options());
  if (a.has("help")) {
    std::printf(
        "usage: i2i preprocess lineart IMAGE [--annotator-model FILE] [--coarse] [--detect-resolution 512]\n"
        "                              [--image-resolution 512] [-o lineart.png]\n\n"
        "Writes the line-art map (dark lines on white, RGB) as controlnet_aux's LineartDetector makes it: "
        "the\n"
        "picture resized to --detect-resolution (sides rounded to multiples of 64), the generator, the map\n"
        "resized to --image-resolution. (A ControlNet unit's --control-preprocess lineart_realistic /\n"
        "lineart_coarse runs the same network the way AUTOMATIC1111's extension does, at "
        "--control-resolution.)\n"
        "A .pth checkpoint must be converted to .safetensors first (the error message gives the "
        "command).\n\n%s",
        format_options(lineart_options()).c_str());
    return 0;
  }
  const auto& pos = a.positional();
  if (pos.empty()) throw Error("preprocess lineart needs an image");
  if (pos.size() > 1) throw Error("unexpected argument '" + pos[1] + "'");
  const std::filesystem::path model =
      preprocess_annotator(a, a.has("coarse") ? "lineart_coarse" : "lineart_realistic");
  const int detect = resolution_option(a, "detect-resolution"),
            image_res = resolution_option(a, "image-resolution");
  const std::filesystem::path out =
      preprocess_output(a, a.has("coarse") ? "lineart_coarse.png" : "lineart.png");  // before any work
  const Image source = read_image(pos[0]);
  // The picture and both sizes are checked before the network is read.
  const AuxSize det = aux_resize_size(source.width, source.height, detect, "--detect-resolution");
  aux_resize_size(det.width, det.height, image_res, "--image-resolution");
  const LineartGenerator net = load_lineart_generator(model, annotator_precision(a, model));
  const Image map = lineart_map(source, net, detect, image_res);
  write_png(out, map);
  std::printf("%s\n", out.c_str());
  return 0;
}

}  // namespace i2i::cli
