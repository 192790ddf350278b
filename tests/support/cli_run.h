// Running the `i2i` binary from tests: a command line in a scratch folder, its exit status and output.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "io/image.h"

namespace i2i::test {

struct CmdResult {
  int status = -1;
  std::string out, err;
};

// Runs I2I_BINARY with `args` in `dir` (stdout / stderr captured through files there).
CmdResult run_i2i(const std::vector<std::string>& args, const std::filesystem::path& dir);
// Runs I2I_BINARY with `args` in `dir` as a child process under limits: address space (RLIMIT_AS,
// `memory_bytes`; 0: none) and CPU time (RLIMIT_CPU, `cpu_seconds`: the same on a loaded machine; a run
// that blocks is killed after 30 s + 10 x that of wall time). stdout / stderr are captured outside `dir`
// (so that a test can check `dir` holds nothing unexpected); OMP_NUM_THREADS=2 and MALLOC_ARENA_MAX=2 (the
// address space a run takes grows with its threads). status: the exit status, or 128 + the signal that
// ended it (timed_out tells a kill for time).
struct LimitedResult : CmdResult {
  bool timed_out = false;
  double seconds = 0;  // wall time
};
LimitedResult run_i2i_limited(const std::vector<std::string>& args, const std::filesystem::path& dir,
                              size_t memory_bytes, double cpu_seconds);
// The fixtures' pipeline settings as `i2i <command>` arguments: `model` (a path under the fixtures folder),
// the fixture tokenizer, init image astronaut_64.png (not for txt2img), the fixtures' prompt pair, 10 steps,
// CFG 7.5, seed 1234, --quiet. Tests append what they vary with `with`.
std::vector<std::string> fixture_args(const std::string& command, const std::string& model);
// `args` followed by `more` (a later flag wins over an earlier one).
std::vector<std::string> with(std::vector<std::string> args, const std::vector<std::string>& more);
// A path under the fixtures folder.
std::filesystem::path fixture_path(const std::string& rel);
// Two PNGs: same size, within one level everywhere, equal in 99% of the values (gtest expectations).
void expect_same_picture(const std::filesystem::path& got, const std::filesystem::path& want);
// The same for decoded pictures of equal size: within one level everywhere, equal almost everywhere (at
// most 1 % of the values differ: a value within round-off of a rounding boundary may round the other way).
void expect_same_picture(const Image& got, const Image& want, const std::string& what);

}  // namespace i2i::test
