#include "kernels/cpu/cpu_features.h"

#include <fstream>
#include <sstream>

#include "kernels/precision.h"

namespace i2i {
namespace {

std::string cpuinfo_field(const std::string& text, const std::string& key) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key, 0) == 0) {
      auto colon = line.find(':');
      if (colon == std::string::npos) continue;
      auto start = line.find_first_not_of(' ', colon + 1);
      return start == std::string::npos ? "" : line.substr(start);
    }
  return "";
}

}  // namespace

bool cpu_has_bf16() {
  static const bool has = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512bf16") != 0;
  }();
  return has;
}

std::string cpu_description() {
  std::ifstream f("/proc/cpuinfo");
  std::stringstream ss;
  ss << f.rdbuf();
  const std::string text = ss.str();
  std::string model = cpuinfo_field(text, "model name");
  if (model.empty()) model = "unknown CPU";
  std::string out = model + " (family " + cpuinfo_field(text, "cpu family") + " model " +
                    cpuinfo_field(text, "model\t") + " stepping " + cpuinfo_field(text, "stepping");
  const std::string flags = " " + cpuinfo_field(text, "flags") + " ";
  std::string has;
  for (const char* flag : {"avx2", "avx512f", "avx512_bf16", "amx_bf16"})
    if (flags.find(std::string(" ") + flag + " ") != std::string::npos) has += std::string(" ") + flag;
  out += has.empty() ? ")" : ";" + has + ")";
  return out;
}

}  // namespace i2i
