#include <cstdio>
#include <cstring>
#include <string>

static void print_help() {
  std::printf(
      "i2i - image-to-image diffusion\n\n"
      "usage: i2i <command> [options]\n\n"
      "commands:\n"
      "  --help            this text\n");
}

int main(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0) {
    print_help();
    return argc < 2 ? 1 : 0;
  }
  std::fprintf(stderr, "i2i: unknown command '%s' (see i2i --help)\n", argv[1]);
  return 2;
}
