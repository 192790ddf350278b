// Output paths (issue 14 item 9): every command that writes checks its output names before any work (a
// folder, a wrong extension, an unwritable folder, a name too long, --overwrite onto a folder), a dangling
// symbolic link at the name is kept, and a write cut by a signal leaves no temporary file.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "io/image.h"
#include "io/temp_files.h"
#include "support/cli_run.h"
#include "support/fixtures.h"

namespace i2i {
namespace {
namespace fs = std::filesystem;

using test::CmdResult;
using test::with;

// Everything in `dir` (names), sorted.
std::vector<std::string> listing(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

std::string astronaut() {
  return test::fixture_path("cases/inputs/astronaut_64.png").string();
}

// An img2img whose model does not exist: an output error must come first (before any work).
std::vector<std::string> img2img_without_model(const std::string& out) {
  return with(test::fixture_args("img2img", "models/no-such-model.safetensors"), {"-o", out});
}

void expect_one_line_error(const CmdResult& r, const std::string& needle) {
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_EQ(r.err.find("no-such-model"), std::string::npos) << "the model was looked at first: " << r.err;
}

TEST(OutputPaths, PreprocessIntoAFolderOrANonPngNameIsRefused) {
  const fs::path dir = test::temp_dir("out_preprocess");
  fs::create_directory(dir / "maps");
  CmdResult r = test::run_i2i({"preprocess", "canny", astronaut(), "-o", "maps"}, dir);
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("maps: is a folder"), std::string::npos) << r.err;
  r = test::run_i2i({"preprocess", "canny", astronaut(), "-o", "e.jpg"}, dir);
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("use a .png name"), std::string::npos) << r.err;
  EXPECT_EQ(listing(dir), (std::vector<std::string>{"maps", "stderr.txt", "stdout.txt"}));
  // The check comes before the picture is read.
  r = test::run_i2i({"preprocess", "canny", "no-such-picture.png", "-o", "e.jpg"}, dir);
  EXPECT_NE(r.err.find("e.jpg"), std::string::npos) << r.err;
}

TEST(OutputPaths, UnwritableFolderIsRefusedBeforeAnyWork) {
  const fs::path dir = test::temp_dir("out_unwritable");
  // (Tests may run as root, for whom permissions do not stop a write: /proc refuses everyone.)
  expect_one_line_error(test::run_i2i(img2img_without_model("/proc/out.png"), dir), "/proc");
  expect_one_line_error(test::run_i2i(img2img_without_model("no-folder/out.png"), dir),
                        "no folder no-folder");
  expect_one_line_error(test::run_i2i(img2img_without_model("stdout.txt/out.png"), dir), "is not a folder");
  CmdResult r = test::run_i2i({"preprocess", "canny", astronaut(), "-o", "/proc/e.png"}, dir);
  EXPECT_NE(r.err.find("cannot create a temporary file in /proc"), std::string::npos) << r.err;
  r = test::run_i2i({"random-model", "/proc/m.safetensors", "--shape", "tiny"}, dir);
  EXPECT_NE(r.err.find("cannot create a temporary file in /proc"), std::string::npos) << r.err;
}

TEST(OutputPaths, LongFileNames) {
  const fs::path dir = test::temp_dir("out_long");
  // 300 bytes: more than any Linux file system allows, refused before any work.
  expect_one_line_error(test::run_i2i(img2img_without_model(std::string(296, 'a') + ".png"), dir),
                        "300 bytes long");
  // 250 bytes: the name fits, though ".NAME.tmp-XXXXXX" would not; the temporary name is shortened.
  const std::string name = std::string(246, 'b') + ".png";
  CmdResult r = test::run_i2i({"preprocess", "canny", astronaut(), "-o", name}, dir);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(fs::is_regular_file(dir / name));
  // A batch whose numbered names would pass the limit: 254 bytes + "-1".
  expect_one_line_error(
      test::run_i2i(with(img2img_without_model(std::string(250, 'c') + ".png"), {"--batch-size", "2"}), dir),
      "255 this file system allows");
}

TEST(OutputPaths, OverwriteOntoAFolderIsRefusedBeforeAnyWork) {
  const fs::path dir = test::temp_dir("out_overwrite_dir");
  fs::create_directory(dir / "out.png");
  expect_one_line_error(test::run_i2i(with(img2img_without_model("out.png"), {"--overwrite"}), dir),
                        "is a folder (--overwrite replaces files, not folders)");
  // The second picture of a batch (out-1.png) too.
  fs::create_directory(dir / "b-1.png");
  expect_one_line_error(
      test::run_i2i(with(img2img_without_model("b.png"), {"--overwrite", "--batch-size", "2"}), dir),
      "b-1.png is a folder");
  CmdResult r = test::run_i2i({"preprocess", "canny", astronaut(), "-o", "out.png", "--overwrite"}, dir);
  EXPECT_NE(r.err.find("is a folder"), std::string::npos) << r.err;
  r = test::run_i2i({"random-model", "m.png", "--shape", "tiny"}, dir);
  EXPECT_NE(r.err.find("use a .safetensors name"), std::string::npos) << r.err;
  fs::create_directory(dir / "m.safetensors");
  r = test::run_i2i({"random-model", "m.safetensors", "--shape", "tiny", "--overwrite"}, dir);
  EXPECT_NE(r.err.find("is a folder"), std::string::npos) << r.err;
}

TEST(OutputPaths, DanglingLinkAtTheNameIsKept) {
  const fs::path dir = test::temp_dir("out_dangling");
  fs::create_symlink("nowhere/edges.png", dir / "edges.png");
  CmdResult r = test::run_i2i({"preprocess", "canny", astronaut(), "-o", "edges.png"}, dir);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "edges-1.png\n");
  EXPECT_TRUE(fs::is_symlink(dir / "edges.png"));
  EXPECT_TRUE(fs::is_regular_file(dir / "edges-1.png"));
  // random-model writes one name: taken, even by a dangling link, without --overwrite.
  fs::create_symlink("nowhere/m.safetensors", dir / "m.safetensors");
  r = test::run_i2i({"random-model", "m.safetensors", "--shape", "tiny"}, dir);
  EXPECT_NE(r.err.find("exists (pass --overwrite"), std::string::npos) << r.err;
  EXPECT_TRUE(fs::is_symlink(dir / "m.safetensors"));
}

// A picture large enough that writing it takes a while (noise does not compress).
Image noise_image(int side) {
  Image im;
  im.width = im.height = side;
  im.channels = 3;
  im.pixels.resize(static_cast<size_t>(side) * side * 3);
  uint32_t x = 12345;
  for (auto& p : im.pixels) {
    x = x * 1664525u + 1013904223u;
    p = static_cast<uint8_t>(x >> 24);
  }
  return im;
}

// SIGINT / SIGTERM while a PNG is being written (the child writes one after another, so that the signal
// lands in a write): the process dies of the signal and the temporary file is gone.
void expect_no_temp_file_after(int sig) {
  const fs::path dir = test::temp_dir(std::string("out_signal_") + std::to_string(sig));
  const Image im = noise_image(1024);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    install_temp_file_cleanup();
    for (;;) write_png(dir / "big.png", im);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  kill(pid, sig);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(WTERMSIG(status), sig);
  for (const std::string& name : listing(dir)) EXPECT_EQ(name.find(".tmp-"), std::string::npos) << name;
}

TEST(OutputPaths, SignalDuringTheWriteLeavesNoTemporaryFile) {
  expect_no_temp_file_after(SIGINT);
  expect_no_temp_file_after(SIGTERM);
}

TEST(OutputPaths, FailedWriteLeavesNoTemporaryFileAndUnregisters) {
  const fs::path dir = test::temp_dir("out_failed_write");
  const int before = registered_temp_files();
  {
    TempFile t(dir / "x.bin");
    EXPECT_EQ(registered_temp_files(), before + 1);
    EXPECT_TRUE(fs::exists(t.path()));
    EXPECT_EQ(t.path().filename().string().rfind(".x.bin.tmp-", 0), 0u) << t.path();
  }  // not committed: removed
  EXPECT_EQ(registered_temp_files(), before);
  EXPECT_TRUE(listing(dir).empty());
  {
    TempFile t(dir / "y.bin");
    t.write("abc", 3);
    t.commit();
  }
  EXPECT_EQ(listing(dir), std::vector<std::string>{"y.bin"});
  EXPECT_EQ(registered_temp_files(), before);
}

}  // namespace
}  // namespace i2i
