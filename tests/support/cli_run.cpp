#include "support/cli_run.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

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

LimitedResult run_i2i_limited(const std::vector<std::string>& args, const fs::path& dir, size_t memory_bytes,
                              double cpu_seconds) {
  const fs::path out_file = dir.string() + ".stdout", err_file = dir.string() + ".stderr";
  std::vector<std::string> argv_s = {I2I_BINARY};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  // The address space a run takes grows with its threads (stacks, malloc's per-thread arenas of 64 MB):
  // two threads and two arenas make the limit mean the same on every machine.
  std::vector<std::string> env_s = {"OMP_NUM_THREADS=2", "MALLOC_ARENA_MAX=2"};
  for (char** e = environ; *e; ++e)
    if (std::strncmp(*e, "OMP_NUM_THREADS=", 16) != 0 && std::strncmp(*e, "MALLOC_ARENA_MAX=", 17) != 0)
      env_s.push_back(*e);
  std::vector<char*> envp;
  for (std::string& e : env_s) envp.push_back(e.data());
  envp.push_back(nullptr);
  const auto start = std::chrono::steady_clock::now();
  const pid_t pid = fork();
  if (pid == 0) {  // the child: only async-signal-safe calls until exec
    if (chdir(dir.c_str()) != 0) _exit(126);
    const int o = open(out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int e = open(err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (o < 0 || e < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0) _exit(126);
    if (memory_bytes > 0) {
      struct rlimit rl = {memory_bytes, memory_bytes};
      setrlimit(RLIMIT_AS, &rl);
    }
    // CPU time, not wall time: the same on a loaded machine (SIGXCPU, then SIGKILL a second later).
    const auto cpu = static_cast<rlim_t>(std::ceil(cpu_seconds));
    struct rlimit rc = {cpu, cpu + 1};
    setrlimit(RLIMIT_CPU, &rc);
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  LimitedResult r;
  if (pid < 0) return r;
  int status = 0;
  for (;;) {
    const pid_t w = waitpid(pid, &status, WNOHANG);
    if (w == pid) break;
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (r.seconds > 30 + 10 * cpu_seconds && !r.timed_out) {  // (a run blocked without using CPU)
      kill(pid, SIGKILL);
      r.timed_out = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  if (WIFSIGNALED(status) && WTERMSIG(status) == SIGXCPU) r.timed_out = true;
  r.out = slurp(out_file);
  r.err = slurp(err_file);
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
