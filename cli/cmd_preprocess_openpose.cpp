// `i2i preprocess openpose IMAGE [--annotator-model FILE] [--detect-resolution 512] [--image-resolution 512]
// -o pose.png`: the pose map --control-preprocess openpose feeds a ControlNet (controlnet_aux's
// OpenposeDetector, body only: preprocess/openpose.h).
#include <cstdio>
#include <string>

#include "args.h"
#include "cmd_preprocess.h"
#include "core/error.h"
#include "io/image.h"
#include "models/annotator_file.h"
#include "models/openpose_body_load.h"
#include "output_names.h"
#include "pipelines/sd_model.h"
#include "preprocess/annotator_resize.h"
#include "preprocess/openpose.h"
#include "stage.h"

namespace i2i::cli {
namespace {

const std::vector<OptionSpec>& openpose_options() {
  static const std::vector<OptionSpec> specs = {
      {"annotator-model", true,
       "the OpenPose body model: body_pose_model.safetensors (convert a .pth once, see above)", "FILE"},
      {"models-dir", true, kModelsDirHelp, "DIR"},
      {"detect-resolution", true, "short side the detector works at, rounded to 64 (default 512)", "N"},
      {"image-resolution", true, "short side of the written map, rounded to 64 (default 512)", "N"},
      {"resolution", true,
       "A1111's Processor Res instead: the map --control-preprocess openpose makes (the picture resized and "
       "padded to N, the map cropped back)",
       "N"},
      {"precision", true, "auto (default), fp32 or bf16 for the network", "P"},
      {"output", true, "output PNG (default pose.png; an existing file is not replaced: numbered)", "FILE"},
      {"overwrite", false, "replace an existing output file"},
      {"help", false, "this text"},
  };
  return specs;
}

int resolution(const Args& a, const char* name) {
  const auto v = a.integer(name);
  if (!v) return 512;
  if (*v < -1'000'000 || *v > 1'000'000)
    throw Error(std::string("--") + name + " " + std::to_string(*v) + " is out of range");
  return static_cast<int>(*v);
}

}  // namespace

int cmd_preprocess_openpose(int argc, char** argv) {
  Args a(argc, argv, 3, openpose_options());
  if (a.has("help")) {
    std::printf(
        "usage: i2i preprocess openpose IMAGE [--annotator-model FILE] [--detect-resolution 512]\n"
        "                               [--image-resolution 512 | --resolution N] [-o pose.png]\n\n"
        "Writes the body pose map (coloured limbs and keypoints on black, RGB) that --control-preprocess\n"
        "openpose feeds a ControlNet: controlnet_aux's OpenposeDetector (body only) with the OpenPose body\n"
        "model of lllyasviel/Annotators. The .pth file is a pickle and is not read; convert it once with\n"
        "PyTorch:\n  %s\n\n%s",
        pth_conversion_command("body_pose_model.pth").c_str(), format_options(openpose_options()).c_str());
    return 0;
  }
  const auto& pos = a.positional();
  if (pos.empty()) throw Error("preprocess openpose needs an image");
  if (pos.size() > 1) throw Error("unexpected argument '" + pos[1] + "'");
  const std::filesystem::path model = preprocess_annotator(a, "openpose");
  const bool a1111 = a.has("resolution");
  if (a1111 && (a.has("detect-resolution") || a.has("image-resolution")))
    throw Error("--resolution (A1111's processor) replaces --detect-resolution and --image-resolution");
  const int detect = resolution(a, "detect-resolution"), image_res = resolution(a, "image-resolution");
  const int processor_res = resolution(a, "resolution");
  const PrecisionChoice choice = parse_precision(a.get_or("precision", "auto"));
  const std::filesystem::path out = preprocess_output(a, "pose.png");  // before any work
  set_stage("reading " + pos[0]);
  const Image image = read_image(pos[0]);
  // The picture and the settings are checked before the model is loaded.
  naming_the_picture(pos[0], [&] {
    if (a1111) {
      check_openpose_a1111(image.width, image.height, processor_res);
      resize_image_with_pad(image, processor_res);
    } else {
      if (image.width < kOpenposeMinInputSide || image.height < kOpenposeMinInputSide)
        openpose_detect_image(image, detect);  // refuses it first thing, naming the size
      const OpenposeMapSize detect_size =
          openpose_resize_size(image.width, image.height, detect, "detect_resolution");
      openpose_resize_size(detect_size.width, detect_size.height, image_res, "image_resolution");
    }
  });
  // auto: as for the SD models (bf16 only for 100M+ parameters on CPUs with native bf16).
  set_stage("loading the annotator " + model.string());
  OpenposeBody body =
      load_openpose_body(model, choice == PrecisionChoice::BF16 ? Precision::BF16 : Precision::F32);
  if (choice == PrecisionChoice::Auto &&
      resolve_precision(choice, body.config().parameter_count()) == Precision::BF16)
    body = load_openpose_body(model, Precision::BF16);
  set_stage("making the pose map of " + pos[0]);
  const Image pose = a1111 ? openpose_a1111(image, body, processor_res)
                           : openpose_preprocess(image, body, detect, image_res);
  set_stage("writing " + out.string());
  write_png(out, pose);
  std::printf("%s\n", out.c_str());
  return 0;
}

}  // namespace i2i::cli
