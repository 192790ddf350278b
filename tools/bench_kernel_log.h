// Which oneDNN kernels a bench stage ran: oneDNN's own verbose log (dnnl_set_verbose, the ONEDNN_VERBOSE
// lines "onednn_verbose,exec,cpu,<primitive>,<implementation>,...,<ms>") captured while one untimed run of
// the stage executes, summed per primitive kind and implementation (impl_info_str, e.g.
// "brgconv:avx512_core_amx", "brg:avx512_core_bf16"). It observes every primitive the engine executes without
// a hook in src/kernels; our own kernels (attention, norms, element-wise) are not oneDNN primitives and are
// not listed. The capture redirects file descriptor 1 to a temporary file for its lifetime (nothing else may
// print to stdout meanwhile) and restores it, also when an exception ends it.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

namespace i2i::bench {

struct KernelUse {
  std::string primitive;  // oneDNN primitive kind: "convolution", "matmul", "reorder", ...
  std::string impl;       // implementation name
  long calls = 0;
  double ms = 0;  // summed execution times oneDNN reports (with its verbose-mode synchronisation)
};

// Sums the exec lines of a verbose log (other lines are ignored), most time first.
std::vector<KernelUse> parse_onednn_verbose(const std::string& log);

// While alive: oneDNN verbose on, its stdout lines going to a temporary file.
class OnednnVerboseCapture {
 public:
  OnednnVerboseCapture();
  ~OnednnVerboseCapture();
  OnednnVerboseCapture(const OnednnVerboseCapture&) = delete;
  OnednnVerboseCapture& operator=(const OnednnVerboseCapture&) = delete;
  // Ends the capture and returns what was logged, summed (empty when the capture could not start).
  std::vector<KernelUse> finish();

 private:
  void restore();
  std::FILE* file_ = nullptr;
  int saved_stdout_ = -1;
};

}  // namespace i2i::bench
