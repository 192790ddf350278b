// Files that are not regular files (issue 14, item 2): a named pipe given as a model, config, picture,
// tokenizer file or noise file must be refused at once with a one-line error, never block in open().
#include "io/regular_file.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <future>

#include "core/error.h"
#include "io/config_file.h"
#include "io/file_hash.h"
#include "io/image.h"
#include "io/safetensors.h"
#include "support/cli_run.h"
#include "support/fixtures.h"
#include "text/tokenizer.h"

namespace i2i {
namespace {
namespace fs = std::filesystem;

fs::path make_fifo(const fs::path& dir, const std::string& name) {
  const fs::path p = dir / name;
  fs::remove(p);
  if (::mkfifo(p.c_str(), 0600) != 0) throw std::runtime_error("mkfifo failed for " + p.string());
  return p;
}

// Runs `read` (which must throw an i2i::Error mentioning `fifo` and `needle`) and fails if it has not
// returned within a few seconds; a reader stuck in open() is then released by opening the FIFO for
// writing, so that the test ends either way.
void expect_refused_without_blocking(const fs::path& fifo, const std::function<void()>& read,
                                     const std::string& needle = "not a regular file") {
  auto result = std::async(std::launch::async, [&]() -> std::string {
    try {
      read();
    } catch (const Error& e) {
      return e.what();
    }
    return "(accepted)";
  });
  if (result.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
    ADD_FAILURE() << "reading " << fifo << " blocked";
    const int w = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK);
    if (w >= 0) ::close(w);
  }
  const std::string msg = result.get();
  EXPECT_NE(msg.find(fifo.string()), std::string::npos) << msg;
  EXPECT_NE(msg.find(needle), std::string::npos) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
}

TEST(RegularFile, FifosAreRefusedByEveryReader) {
  const fs::path dir = test::temp_dir("regular_file_fifo");
  const fs::path fifo = make_fifo(dir, "model.safetensors");
  expect_refused_without_blocking(fifo, [&] { SafeTensors::open(fifo); });
  expect_refused_without_blocking(fifo, [&] { read_config_json(fifo); });
  expect_refused_without_blocking(fifo, [&] { read_image(fifo); });
  expect_refused_without_blocking(fifo, [&] { sha256_file(fifo); });

  // A tokenizer folder whose vocab.json is a pipe.
  const fs::path tok = dir / "tokenizer";
  fs::create_directories(tok);
  fs::copy_file(test::fixtures_dir() / "models" / "tiny-sd15" / "tokenizer" / "merges.txt",
                tok / "merges.txt", fs::copy_options::overwrite_existing);
  const fs::path vocab = make_fifo(tok, "vocab.json");
  expect_refused_without_blocking(vocab, [&] { ClipTokenizer::load(tok); });
}

TEST(RegularFile, DirectoriesAndMissingFilesNameTheProblem) {
  const fs::path dir = test::temp_dir("regular_file_dir");
  expect_refused_without_blocking(
      dir, [&] { RegularFile f(dir); }, "is a directory");
  expect_refused_without_blocking(
      dir / "none", [&] { RegularFile f(dir / "none"); }, "no such file");
}

TEST(RegularFile, ReadAllEnforcesItsLimit) {
  const fs::path dir = test::temp_dir("regular_file_limit");
  const fs::path p = dir / "f.json";
  std::ofstream(p, std::ios::binary) << std::string(100, 'x');
  EXPECT_EQ(read_regular_file(p, 100, "a test").size(), 100u);
  try {
    read_regular_file(p, 99, "a test");
    ADD_FAILURE() << "a 100-byte file passed a 99-byte limit";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("too big for a test"), std::string::npos) << e.what();
  }
  std::ofstream(p, std::ios::binary | std::ios::trunc);
  EXPECT_TRUE(read_regular_file(p, 10, "a test").empty());
}

// Through the command line: a pipe as --model, --vae or --noise-file ends the run with an error.
TEST(RegularFile, CliRefusesPipes) {
  const fs::path dir = test::temp_dir("regular_file_cli");
  const fs::path fifo = make_fifo(dir, "pipe.safetensors");
  for (const std::vector<std::string>& extra :
       {std::vector<std::string>{"--model", fifo.string()}, std::vector<std::string>{"--vae", fifo.string()},
        std::vector<std::string>{"--noise-file", fifo.string()}}) {
    const std::vector<std::string> args = test::with(
        test::fixture_args("img2img", "models/tiny-sd15.safetensors"), test::with(extra, {"-o", "out.png"}));
    auto run = std::async(std::launch::async, [&] { return test::run_i2i(args, dir); });
    if (run.wait_for(std::chrono::seconds(60)) != std::future_status::ready) {
      ADD_FAILURE() << "i2i blocked on a pipe given as " << extra[extra.size() - 2];
      const int w = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK);
      if (w >= 0) ::close(w);
    }
    const auto r = run.get();
    EXPECT_NE(r.status, 0) << r.out;
    EXPECT_NE(r.err.find("not a regular file"), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(dir / "out.png"));
  }
}

}  // namespace
}  // namespace i2i
