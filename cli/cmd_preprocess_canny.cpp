// `i2i preprocess canny IMAGE --low 100 --high 200 -o edges.png`: the edge map --control-preprocess canny
// feeds a ControlNet.
#include <cstdio>

#include "args.h"
#include "cmd_preprocess.h"
#include "core/error.h"
#include "io/image.h"
#include "output_names.h"
#include "preprocess/canny.h"

namespace i2i::cli {
namespace {

const std::vector<OptionSpec>& canny_options() {
  static const std::vector<OptionSpec> specs = {
      {"low", true, "Canny low threshold (default 100)", "N"},
      {"high", true, "Canny high threshold (default 200)", "N"},
      {"output", true, "output PNG (default edges.png; an existing file is not replaced: numbered)", "FILE"},
      {"overwrite", false, "replace an existing output file"},
      {"help", false, "this text"},
  };
  return specs;
}

int threshold(const Args& a, const char* name, int fallback) {
  auto v = a.integer(name);
  if (!v) return fallback;
  if (*v < 0 || *v > 2040) throw Error(std::string("--") + name + " must be between 0 and 2040");
  return static_cast<int>(*v);
}

}  // namespace

int cmd_preprocess_canny(int argc, char** argv) {
  Args a(argc, argv, 3, canny_options());
  if (a.has("help")) {
    std::printf(
        "usage: i2i preprocess canny IMAGE [--low 100] [--high 200] [-o edges.png]\n\n"
        "Writes the edge map (white edges on black, RGB) that --control-preprocess canny feeds a "
        "ControlNet:\n"
        "OpenCV's cv2.Canny on the image's grey levels.\n\n%s",
        format_options(canny_options()).c_str());
    return 0;
  }
  const auto& pos = a.positional();
  if (pos.empty()) throw Error("preprocess canny needs an image");
  if (pos.size() > 1) throw Error("unexpected argument '" + pos[1] + "'");
  const int low = threshold(a, "low", 100), high = threshold(a, "high", 200);
  const std::filesystem::path out = preprocess_output(a, "edges.png");  // before any work
  write_png(out, to_rgb(canny(read_image(pos[0]), low, high)));
  std::printf("%s\n", out.c_str());
  return 0;
}

}  // namespace i2i::cli
