#include "support/cli_run.h"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "io/image.h"
#include "support/fixtures.h"

namespace i2i::test {
namespace fs = std::filesystem;
namespace {

std::string quote(const std::string& s) {
  std::string q(1, '\'');
  for (char c : s) {
    if (c == '\'')
      q.append("'\\''");
    else
      q.push_back(c);
  }
  q.push_back('\'');
  return q;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

CmdResult run_i2i(const std::vector<std::string>& args, const fs::path& dir) {
  std::string cmd = "cd ";
  cmd += quote(dir.string());
  cmd += " && ";
  cmd += quote(I2I_BINARY);
  for (const auto& a : args) {
    cmd.push_back(' ');
    cmd += quote(a);
  }
  cmd += " >stdout.txt 2>stderr.txt";
  CmdResult r;
  int s = std::system(cmd.c_str());
  r.status = WIFEXITED(s) ? WEXITSTATUS(s) : -1;
  r.out = slurp(dir / "stdout.txt");
  r.err = slurp(dir / "stderr.txt");
  return r;
}

fs::path fixture_path(const std::string& rel) {
  return fixtures_dir() / rel;
}

std::vector<std::string> fixture_args(const std::string& command, const std::string& model) {
  std::vector<std::string> args = {command, "--model", fixture_path(model).string(), "--tokenizer",
                                   fixture_path("tokenizer").string()};
  if (command != "txt2img")
    args.insert(args.end(), {"--init", fixture_path("cases/inputs/astronaut_64.png").string()});
  args.insert(args.end(), {"--prompt", "a photograph of an astronaut riding a horse, highly detailed",
                           "--negative-prompt", "blurry, low quality, watermark", "--steps", "10",
                           "--cfg-scale", "7.5", "--seed", "1234", "--quiet"});
  return args;
}

std::vector<std::string> with(std::vector<std::string> args, const std::vector<std::string>& more) {
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

void expect_same_picture(const fs::path& got_path, const fs::path& want_path) {
  expect_same_picture(read_image(got_path), read_image(want_path), got_path.string());
}

void expect_same_picture(const Image& got, const Image& want, const std::string& what) {
  ASSERT_EQ(got.width, want.width) << what;
  ASSERT_EQ(got.height, want.height) << what;
  ASSERT_EQ(got.channels, want.channels) << what;
  size_t differ = 0;
  int worst = 0;
  for (size_t i = 0; i < got.pixels.size(); ++i) {
    int d = std::abs(int(got.pixels[i]) - int(want.pixels[i]));
    differ += d != 0;
    worst = std::max(worst, d);
  }
  EXPECT_LE(worst, 1) << what;
  EXPECT_LE(differ, got.pixels.size() / 100) << what << ": " << differ << " values differ";
}

}  // namespace i2i::test
