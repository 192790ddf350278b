#include <cstdio>
#include <cstring>
#include <new>
#include <string>

#include "commands.h"
#include "core/error.h"
#include "generation_args.h"
#include "io/temp_files.h"
#include "stage.h"

namespace {

void print_help() {
  std::printf(
      "i2i - image-to-image diffusion (Stable Diffusion 1.x / 2.x / SDXL)\n\n"
      "usage: i2i <command> [options]   (i2i <command> --help for a command's options)\n\n"
      "commands:\n"
      "  img2img           a new image from a source image and a prompt (the main job)\n"
      "  inpaint           repaint the masked area of a source image (white = repaint)\n"
      "  txt2img           a new image from a prompt alone\n"
      "  style-transfer    a photo in the style of another picture (img2img + IP-Adapter preset)\n"
      "  preprocess NAME   the control map a ControlNet will see (canny, ...: i2i preprocess --help)\n"
      "  info MODEL        what a checkpoint or diffusers folder holds\n"
      "  list              the models in the models folder (kind, family, size, hash)\n"
      "  pull org/name     download a Hugging Face repository (or files of it) into the hub cache\n"
      "  pull tokenizer    download the CLIP tokenizer that single-file checkpoints need\n"
      "  random-model OUT  write a random-weight SD 1.5-shaped checkpoint (benchmarks, load tests)\n"
      "  bench             speed of the SD 1.5 components (random weights)\n"
      "  serve             an AUTOMATIC1111-compatible HTTP API and web page over one loaded model\n");
}

void print_error(const std::string& command, std::string msg) {
  for (char& c : msg)
    if (c == '\n') c = ' ';
  std::fprintf(stderr, "i2i %s: error: %s\n", command.c_str(), msg.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0 ||
      std::strcmp(argv[1], "help") == 0) {
    print_help();
    return argc < 2 ? 2 : 0;
  }
  std::string command = argv[1];
  // Ctrl-C or kill while an output is written leaves no temporary file behind (io/temp_files.h).
  i2i::install_temp_file_cleanup();
  try {
    if (command == "info") return i2i::cli::cmd_info(argc, argv);
    if (command == "img2img") return i2i::cli::cmd_img2img(argc, argv);
    if (command == "pull") return i2i::cli::cmd_pull(argc, argv);
    if (command == "list") return i2i::cli::cmd_list(argc, argv);
    if (command == "random-model") return i2i::cli::cmd_random_model(argc, argv);
    if (command == "bench") return i2i::cli::cmd_bench(argc, argv);
    if (command == "inpaint") return i2i::cli::cmd_inpaint(argc, argv);
    if (command == "txt2img") return i2i::cli::cmd_txt2img(argc, argv);
    if (command == "preprocess") return i2i::cli::cmd_preprocess(argc, argv);
    if (command == "style-transfer") return i2i::cli::cmd_style_transfer(argc, argv);
    if (command == "serve") return i2i::cli::cmd_serve(argc, argv);
    std::fprintf(stderr, "i2i: unknown command '%s' (see i2i --help)\n", command.c_str());
    return 2;
  } catch (const i2i::ParameterError& e) {
    // The library names its parameters; here they are the flags that set them.
    print_error(command, e.render(i2i::cli::flag_for_parameter));
    return 1;
  } catch (const i2i::OutOfMemory& e) {
    print_error(command, "out of memory while " + i2i::cli::current_stage() + " (" + e.what() + ")");
    return 1;
  } catch (const std::bad_alloc&) {
    // (Thrown anywhere a buffer is allocated: the stage is the command's own account of where it was.)
    print_error(command, "out of memory while " + i2i::cli::current_stage());
    return 1;
  } catch (const std::exception& e) {
    print_error(command, e.what());
    return 1;
  }
}
