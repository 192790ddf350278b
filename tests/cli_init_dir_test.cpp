// `i2i img2img --init-dir DIR --output-dir DIR`: every picture of a folder with the same settings, the model
// loaded once; each result is the picture `i2i img2img --init FILE` makes with those settings, named after
// its source. Files that are not pictures are passed over; a picture that cannot be read is skipped and
// reported (exit status 1), the others still made.
#include <gtest/gtest.h>

#include <fstream>

#include "io/image.h"
#include "support/cli_run.h"
#include "support/fixtures.h"

namespace i2i {
namespace {
namespace fs = std::filesystem;
using test::fixture_path;

// The fixture arguments of img2img without --init.
std::vector<std::string> folder_args() {
  std::vector<std::string> args = test::fixture_args("txt2img", "models/tiny-sd15.safetensors");
  args[0] = "img2img";
  return test::with(args, {"--strength", "0.6", "--steps", "4"});
}

TEST(CliInitDir, EachPictureAsASingleRunWouldMakeIt) {
  const fs::path dir = test::temp_dir("init_dir");
  fs::create_directories(dir / "in");
  fs::create_directories(dir / "out");
  fs::copy_file(fixture_path("cases/inputs/astronaut_64.png"), dir / "in/b_astronaut.png");
  fs::copy_file(fixture_path("cases/inputs/astronaut_64_canny_100_200.png"), dir / "in/a_edges.png");
  std::ofstream(dir / "in/notes.txt") << "not a picture";
  test::CmdResult r = test::run_i2i(test::with(folder_args(), {"--init-dir", (dir / "in").string(),
                                                               "--output-dir", (dir / "out").string()}),
                                    dir);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("a_edges.png"), std::string::npos);
  EXPECT_LT(r.out.find("a_edges.png"), r.out.find("b_astronaut.png"));  // name order
  for (const char* name : {"a_edges", "b_astronaut"}) {
    const fs::path single = dir / (std::string("single_") + name + ".png");
    test::CmdResult s = test::run_i2i(
        test::with(folder_args(),
                   {"--init", (dir / "in" / (std::string(name) + ".png")).string(), "-o", single.string()}),
        dir);
    ASSERT_EQ(s.status, 0) << s.err;
    const fs::path batch = dir / "out" / (std::string(name) + ".png");
    ASSERT_TRUE(fs::exists(batch)) << batch;
    EXPECT_TRUE(read_image(batch).pixels == read_image(single).pixels) << name;
    EXPECT_EQ(read_png_text(batch).at("parameters"), read_png_text(single).at("parameters")) << name;
  }
  EXPECT_FALSE(fs::exists(dir / "out/notes.png"));
}

TEST(CliInitDir, UnreadablePictureIsSkippedAndReported) {
  const fs::path dir = test::temp_dir("init_dir_bad");
  fs::create_directories(dir / "in");
  fs::create_directories(dir / "out");
  fs::copy_file(fixture_path("cases/inputs/astronaut_64.png"), dir / "in/good.png");
  std::ofstream(dir / "in/broken.png") << "not a png";
  test::CmdResult r = test::run_i2i(test::with(folder_args(), {"--init-dir", (dir / "in").string(),
                                                               "--output-dir", (dir / "out").string()}),
                                    dir);
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("broken.png"), std::string::npos) << r.err;
  EXPECT_TRUE(fs::exists(dir / "out/good.png"));
  EXPECT_FALSE(fs::exists(dir / "out/broken.png"));
}

TEST(CliInitDir, FlagErrors) {
  const fs::path dir = test::temp_dir("init_dir_flags");
  fs::create_directories(dir / "in");
  test::CmdResult r = test::run_i2i(test::with(folder_args(), {"--init-dir", (dir / "in").string()}), dir);
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("--output-dir"), std::string::npos) << r.err;
  r = test::run_i2i(
      test::with(folder_args(), {"--init-dir", (dir / "in").string(), "--output-dir", dir.string()}), dir);
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("no PNG, JPEG or WebP"), std::string::npos) << r.err;
  r = test::run_i2i(test::with(folder_args(), {"--output-dir", dir.string()}), dir);
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;  // one line
}

}  // namespace
}  // namespace i2i
