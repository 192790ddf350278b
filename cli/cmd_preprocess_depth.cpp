// `i2i preprocess depth IMAGE [--annotator-model FILE] [--resolution 512] [--colored] -o depth.png`: the map
// --control-preprocess depth_anything_v2 feeds a ControlNet (A1111's depth_anything_v2 preprocessor).
#include <cstdio>

#include "args.h"
#include "cmd_preprocess.h"
#include "core/error.h"
#include "io/image.h"
#include "models/depth_anything_v2_load.h"
#include "output_names.h"
#include "pipelines/sd_model.h"
#include "preprocess/annotator_resize.h"
#include "preprocess/control_preprocessors.h"
#include "preprocess/depth_map.h"
#include "stage.h"

namespace i2i::cli {
namespace {

const std::vector<OptionSpec>& depth_options() {
  static const std::vector<OptionSpec> specs = {
      {"annotator-model", true,
       "the Depth Anything V2 network (depth_anything_v2_vits/vitb/vitl as .safetensors)", "FILE"},
      {"models-dir", true, kModelsDirHelp, "DIR"},
      {"resolution", true, "A1111's Processor Res: the short side the map is made at (default 512)", "N"},
      {"colored", false, "the coloured (inferno) map instead of grey levels"},
      {"precision", true, "auto (default), fp32 or bf16", "P"},
      {"output", true, "output PNG (default depth.png; an existing file is not replaced: numbered)", "FILE"},
      {"overwrite", false, "replace an existing output file"},
      {"help", false, "this text"},
  };
  return specs;
}

}  // namespace

int cmd_preprocess_depth(int argc, char** argv) {
  Args a(argc, argv, 3, depth_options());
  if (a.has("help")) {
    std::printf(
        "usage: i2i preprocess depth IMAGE [--annotator-model FILE] [--resolution 512] [--colored] "
        "[-o depth.png]\n\n"
        "Writes the relative depth map (near = bright) that --control-preprocess depth_anything_v2 feeds a "
        "ControlNet,\nas AUTOMATIC1111's ControlNet extension makes it with Depth Anything V2. A .pth "
        "checkpoint must be\nconverted to .safetensors first (the error message gives the command).\n\n%s",
        format_options(depth_options()).c_str());
    return 0;
  }
  const auto& pos = a.positional();
  if (pos.empty()) throw Error("preprocess depth needs an image");
  if (pos.size() > 1) throw Error("unexpected argument '" + pos[1] + "'");
  const std::filesystem::path model = preprocess_annotator(a, "depth_anything_v2");
  const auto res = a.integer("resolution");
  const long long resolution = res ? *res : 512;
  if (resolution < kMinProcessorResolution || resolution > kMaxProcessorResolution)
    throw Error("--resolution must be between " + std::to_string(kMinProcessorResolution) + " and " +
                std::to_string(kMaxProcessorResolution) + ", got " + std::to_string(resolution));
  const std::filesystem::path out = preprocess_output(a, "depth.png");  // before any work
  set_stage("reading " + pos[0]);
  const Image source = read_image(pos[0]);
  // The picture is checked before the network is read: its size at the processor resolution, and what the
  // network would be given.
  naming_the_picture(pos[0], [&] {
    resize_image_with_pad(Image(source.width, source.height, 3), static_cast<int>(resolution));
    depth_anything_input_size(source.width, source.height);
  });
  // auto: bf16 where the CPU computes it natively and the network is large, as for the UNet (the parameter
  // count estimated from the file size as if it were 16-bit: ViT-B and ViT-L qualify, ViT-S does not).
  std::error_code ec;
  const auto bytes = std::filesystem::file_size(model, ec);
  const Precision precision = resolve_precision(parse_precision(a.get_or("precision", "auto")),
                                                ec ? 0 : static_cast<int64_t>(bytes / 2));
  set_stage("loading the annotator " + model.string());
  const DepthAnythingV2 net = load_depth_anything_v2(model, precision);
  set_stage("making the depth map of " + pos[0]);
  const Image map = depth_anything_v2_map(net, source, static_cast<int>(resolution), a.has("colored"));
  set_stage("writing " + out.string());
  write_png(out, map);
  std::printf("%s\n", out.c_str());
  return 0;
}

}  // namespace i2i::cli
