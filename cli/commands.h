// The i2i subcommands. Each returns the process exit status; errors are thrown as i2i::Error and
// printed by main() as one line.
#pragma once

namespace i2i::cli {

int cmd_info(int argc, char** argv);
int cmd_img2img(int argc, char** argv);
int cmd_pull(int argc, char** argv);
int cmd_list(int argc, char** argv);
int cmd_random_model(int argc, char** argv);
int cmd_bench(int argc, char** argv);
int cmd_inpaint(int argc, char** argv);
int cmd_txt2img(int argc, char** argv);
int cmd_preprocess(int argc, char** argv);
int cmd_style_transfer(int argc, char** argv);
int cmd_serve(int argc, char** argv);

}  // namespace i2i::cli
