// `i2i preprocess NAME ...`: dispatch to the handler of NAME (cmd_preprocess.h).
#include "cmd_preprocess.h"

#include <cstdio>
#include <string>
#include <vector>

#include "args.h"
#include "commands.h"
#include "core/error.h"
#include "output_names.h"
#include "preprocess/annotator_lookup.h"

namespace i2i::cli {
namespace {

const std::vector<PreprocessCommand>& preprocess_commands() {
  static const std::vector<PreprocessCommand> table = {
      {"canny", "the Canny edge map (OpenCV's cv2.Canny)", cmd_preprocess_canny},

      {"depth", "Depth Anything V2 relative depth (A1111's depth_anything_v2)", cmd_preprocess_depth},

      {"openpose", "the OpenPose body pose map (controlnet_aux's OpenposeDetector)", cmd_preprocess_openpose},

      {"lineart", "line art (controlnet_aux's LineartDetector; lineart_realistic / lineart_coarse)",
       cmd_preprocess_lineart},
      {"softedge", "HED soft edges (controlnet_aux's HEDdetector; softedge_hed / softedge_hedsafe)",
       cmd_preprocess_softedge},
  };
  return table;
}

std::string command_names() {
  std::string s;
  for (const auto& c : preprocess_commands()) s += (s.empty() ? "" : ", ") + std::string(c.name);
  return s;
}

}  // namespace

std::filesystem::path preprocess_output(const Args& a, const char* fallback) {
  const std::filesystem::path base = a.get_or("output", fallback);
  OutputCheck check;
  check.why_extension = "preprocess writes PNG files";
  check.overwrite = a.has("overwrite");
  check_output(base, check);
  int next = 0;
  return next_output(base, next, check.overwrite);
}

const char* const kModelsDirHelp =
    "models folder whose annotators/ (or A1111's / ComfyUI's annotator downloads) hold the network when "
    "--annotator-model is not given (default $I2I_MODELS_DIR or ~/.local/share/i2i/models)";

std::filesystem::path preprocess_annotator(const Args& a, const char* module) {
  return resolve_annotator_model(module, a.get_or("annotator-model", ""), a.get_or("models-dir", ""));
}

int cmd_preprocess(int argc, char** argv) {
  const std::string name = argc > 2 ? argv[2] : "";
  if (name.empty()) throw Error("which preprocessor? (" + command_names() + "; i2i preprocess --help)");
  if (name == "--help" || name == "-h") {
    std::printf(
        "usage: i2i preprocess NAME IMAGE [options] -o OUT.png   (i2i preprocess NAME --help)\n\n"
        "Writes the control map a ControlNet unit's --control-preprocess makes.\n\npreprocessors:\n");
    for (const auto& c : preprocess_commands()) std::printf("  %-12s %s\n", c.name, c.summary);
    return 0;
  }
  for (const auto& c : preprocess_commands())
    if (name == c.name) return c.run(argc, argv);
  throw Error("unknown preprocessor '" + name + "' (available: " + command_names() + ")");
}

}  // namespace i2i::cli
