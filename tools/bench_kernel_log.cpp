#include "tools/bench_kernel_log.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <dnnl.hpp>
#include <map>
#include <sstream>
#include <utility>

namespace i2i::bench {

std::vector<KernelUse> parse_onednn_verbose(const std::string& log) {
  std::map<std::pair<std::string, std::string>, KernelUse> sums;
  std::istringstream in(log);
  std::string line;
  while (std::getline(in, line)) {
    // onednn_verbose,exec,cpu,<primitive>,<impl>,...,<ms> (older releases: dnnl_verbose)
    if (line.rfind("onednn_verbose,exec,", 0) != 0 && line.rfind("dnnl_verbose,exec,", 0) != 0) continue;
    std::vector<std::string> fields;
    std::stringstream fs(line);
    std::string f;
    while (std::getline(fs, f, ',')) fields.push_back(f);
    if (fields.size() < 6) continue;
    char* end = nullptr;
    const double ms = std::strtod(fields.back().c_str(), &end);
    if (end == fields.back().c_str()) continue;
    KernelUse& u = sums[{fields[3], fields[4]}];
    u.primitive = fields[3];
    u.impl = fields[4];
    ++u.calls;
    u.ms += ms;
  }
  std::vector<KernelUse> out;
  for (auto& [key, use] : sums) out.push_back(std::move(use));
  std::stable_sort(out.begin(), out.end(),
                   [](const KernelUse& a, const KernelUse& b) { return a.ms > b.ms; });
  return out;
}

OnednnVerboseCapture::OnednnVerboseCapture() {
  std::fflush(stdout);
  file_ = std::tmpfile();
  if (!file_) return;
  saved_stdout_ = dup(STDOUT_FILENO);
  if (saved_stdout_ < 0 || dup2(fileno(file_), STDOUT_FILENO) < 0) {
    if (saved_stdout_ >= 0) close(saved_stdout_);
    saved_stdout_ = -1;
    std::fclose(file_);
    file_ = nullptr;
    return;
  }
  dnnl::set_verbose(2);  // 2: primitive creation and execution
}

void OnednnVerboseCapture::restore() {
  if (saved_stdout_ < 0) return;
  dnnl::set_verbose(0);
  std::fflush(stdout);
  dup2(saved_stdout_, STDOUT_FILENO);
  close(saved_stdout_);
  saved_stdout_ = -1;
}

std::vector<KernelUse> OnednnVerboseCapture::finish() {
  if (!file_) return {};
  restore();
  std::string log;
  std::rewind(file_);
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, file_)) > 0) log.append(buf, n);
  std::fclose(file_);
  file_ = nullptr;
  return parse_onednn_verbose(log);
}

OnednnVerboseCapture::~OnednnVerboseCapture() {
  restore();
  if (file_) std::fclose(file_);
}

}  // namespace i2i::bench
