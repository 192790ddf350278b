#include "kernels/cpu/kernel_choice_cache.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>

#include "core/user_cache.h"
#include "kernels/cpu/kernel_choice.h"
#include "kernels/precision.h"

namespace i2i::cpu {
namespace {

namespace fs = std::filesystem;

constexpr std::uintmax_t kMaxFileBytes = std::uintmax_t{1} << 20;

std::mutex g_mutex;
bool g_loaded = false;
fs::path g_file;
std::map<std::string, std::string> g_choices;  // "<operation and shape>" -> kernel, this machine's lines

fs::path cache_file() {
  const fs::path dir = user_cache_dir();
  return dir.empty() ? fs::path() : dir / "kernel-choices.txt";
}

bool too_large(const fs::path& file) {
  std::error_code ec;
  const std::uintmax_t size = fs::file_size(file, ec);
  return !ec && size > kMaxFileBytes;
}

// Fills g_choices from the file (caller holds g_mutex).
void load() {
  if (g_loaded) return;
  g_loaded = true;
  g_file = cache_file();
  g_choices.clear();
  if (g_file.empty() || too_large(g_file)) return;
  std::ifstream in(g_file);
  const std::string machine = kernel_choice_machine();
  std::string line;
  while (std::getline(in, line)) {
    const size_t a = line.find('\t'), b = a == std::string::npos ? a : line.find('\t', a + 1);
    if (b == std::string::npos || line.find('\t', b + 1) != std::string::npos) continue;
    if (line.compare(0, a, machine) != 0 || a != machine.size()) continue;
    g_choices.emplace(line.substr(a + 1, b - a - 1), line.substr(b + 1));  // the first line wins
  }
}

// A field may hold neither a tab nor a line break (it would split the line).
bool clean(const std::string& field) {
  return !field.empty() && field.find_first_of("\t\r\n") == std::string::npos;
}

std::string cpuinfo_model_name() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) {
      const size_t colon = line.find(':');
      if (colon == std::string::npos) break;
      std::string name = line.substr(colon + 1);
      const size_t first = name.find_first_not_of(" \t");
      return first == std::string::npos ? std::string() : name.substr(first);
    }
  return {};
}

}  // namespace

std::string kernel_choice_machine() {
  static const std::string machine = [] {
    std::string name = cpuinfo_model_name();
    for (char& c : name)
      if (c == '\t' || c == '\r' || c == '\n') c = ' ';
    if (name.empty()) name = "unknown CPU";
    return name + (cpu_has_bf16() ? " avx512_bf16" : "") + (cpu_has_amx_bf16() ? " amx_bf16" : "");
  }();
  return machine;
}

std::optional<std::string> cached_kernel_choice(const std::string& what) {
  std::lock_guard<std::mutex> lock(g_mutex);
  load();
  const auto it = g_choices.find(what);
  if (it == g_choices.end()) return std::nullopt;
  return it->second;
}

void store_kernel_choice(const std::string& what, const std::string& kernel) {
  if (!clean(what) || !clean(kernel)) return;
  std::lock_guard<std::mutex> lock(g_mutex);
  load();
  if (!g_choices.emplace(what, kernel).second || g_file.empty() || too_large(g_file)) return;
  std::error_code ec;
  fs::create_directories(g_file.parent_path(), ec);
  const int fd = ::open(g_file.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return;
  const std::string line = kernel_choice_machine() + "\t" + what + "\t" + kernel + "\n";
  // One write of a short line: with O_APPEND it lands whole after whatever another process appended.
  [[maybe_unused]] const ssize_t written = ::write(fd, line.data(), line.size());
  ::close(fd);
}

void forget_kernel_choice_cache() {
  std::lock_guard<std::mutex> lock(g_mutex);
  g_loaded = false;
  g_choices.clear();
}

}  // namespace i2i::cpu
