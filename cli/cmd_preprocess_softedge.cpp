// `i2i preprocess softedge IMAGE [--annotator-model FILE] [--safe] [--detect-resolution 512]
// [--image-resolution 512] -o softedge.png`: controlnet_aux's HEDdetector (white soft edges on black), the
// map the softedge_hed / softedge_hedsafe ControlNets take.
#include <cstdio>

#include "args.h"
#include "cmd_preprocess.h"
#include "core/error.h"
#include "io/image.h"
#include "models/controlnet_hed.h"
#include "output_names.h"
#include "preprocess/aux_resize.h"
#include "preprocess/soft_edge.h"
#include "preprocess_aux_options.h"

namespace i2i::cli {
namespace {

const std::vector<OptionSpec>& softedge_options() {
  static const std::vector<OptionSpec> specs = {
      {"annotator-model", true, "the HED network: ControlNetHED.pth as .safetensors", "FILE"},
      {"models-dir", true, kModelsDirHelp, "DIR"},
      {"safe", false, "softedge_hedsafe: the edges quantised to 3 levels (safe_step)"},
      {"detect-resolution", true, "the short side the network sees, rounded to multiples of 64 (default 512)",
       "N"},
      {"image-resolution", true, "the short side of the written map (default 512)", "N"},
      {"precision", true, "auto (default), fp32 or bf16", "P"},
      {"output", true, "output PNG (default softedge.png; an existing file is not replaced: numbered)",
       "FILE"},
      {"overwrite", false, "replace an existing output file"},
      {"help", false, "this text"},
  };
  return specs;
}

}  // namespace

int cmd_preprocess_softedge(int argc, char** argv) {
  Args a(argc, argv, 3, softedge_options());
  if (a.has("help")) {
    std::printf(
        "usage: i2i preprocess softedge IMAGE [--annotator-model FILE] [--safe] [--detect-resolution 512]\n"
        "                               [--image-resolution 512] [-o softedge.png]\n\n"
        "Writes the HED soft-edge map (white edges on black, RGB) as controlnet_aux's HEDdetector makes it:\n"
        "the picture resized to --detect-resolution (sides rounded to multiples of 64), the network's five\n"
        "side outputs averaged, the map resized to --image-resolution. (A ControlNet unit's\n"
        "--control-preprocess softedge_hed / softedge_hedsafe runs the same network the way AUTOMATIC1111's\n"
        "extension does, at --control-resolution.) A .pth checkpoint must be converted to .safetensors "
        "first\n"
        "(the error message gives the command).\n\n%s",
        format_options(softedge_options()).c_str());
    return 0;
  }
  const auto& pos = a.positional();
  if (pos.empty()) throw Error("preprocess softedge needs an image");
  if (pos.size() > 1) throw Error("unexpected argument '" + pos[1] + "'");
  const std::filesystem::path model = preprocess_annotator(a, "softedge_hed");
  const int detect = resolution_option(a, "detect-resolution"),
            image_res = resolution_option(a, "image-resolution");
  const std::filesystem::path out = preprocess_output(a, "softedge.png");  // before any work
  const Image source = read_image(pos[0]);
  // The picture and both sizes are checked before the network is read.
  const AuxSize det = aux_resize_size(source.width, source.height, detect, "--detect-resolution");
  aux_resize_size(det.width, det.height, image_res, "--image-resolution");
  const ControlNetHed net = load_controlnet_hed(model, annotator_precision(a, model));
  const Image map = soft_edge_map(source, net, a.has("safe"), detect, image_res);
  write_png(out, map);
  std::printf("%s\n", out.c_str());
  return 0;
}

}  // namespace i2i::cli
