// `i2i preprocess canny IMAGE --low 100 --high 200 -o edges.png`: the control map a ControlNet will see.
#include <cstdio>

#include "args.h"
#include "commands.h"
#include "core/error.h"
#include "io/image.h"
#include "output_names.h"
#include "preprocess/canny.h"

namespace i2i::cli {
namespace {

const std::vector<OptionSpec>& preprocess_options() {
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

int cmd_preprocess(int argc, char** argv) {
  Args a(argc, argv, 2, preprocess_options());
  if (a.has("help")) {
    std::printf(
        "usage: i2i preprocess canny IMAGE [--low 100] [--high 200] [-o edges.png]\n\n"
        "Writes the edge map (white edges on black, RGB) that --control-preprocess canny feeds a "
        "ControlNet:\n"
        "OpenCV's cv2.Canny on the image's grey levels.\n\n%s",
        format_options(preprocess_options()).c_str());
    return 0;
  }
  const auto& pos = a.positional();
  if (pos.empty()) throw Error("which preprocessor? (i2i preprocess canny IMAGE ...)");
  if (pos[0] != "canny") throw Error("unknown preprocessor '" + pos[0] + "' (available: canny)");
  if (pos.size() < 2) throw Error("preprocess canny needs an image");
  if (pos.size() > 2) throw Error("unexpected argument '" + pos[2] + "'");
  const int low = threshold(a, "low", 100), high = threshold(a, "high", 200);
  const std::filesystem::path base = a.get_or("output", "edges.png");
  OutputCheck out_check;
  out_check.why_extension = "preprocess writes PNG files";
  out_check.overwrite = a.has("overwrite");
  check_output(base, out_check);  // before the picture is read
  const Image edges = to_rgb(canny(read_image(pos[1]), low, high));
  int next = 0;
  const std::filesystem::path out = next_output(base, next, a.has("overwrite"));
  write_png(out, edges);
  std::printf("%s\n", out.c_str());
  return 0;
}

}  // namespace i2i::cli
