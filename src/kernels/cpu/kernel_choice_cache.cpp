#include "kernels/cpu/kernel_choice_cache.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>

#include "core/user_cache.h"
#include "kernels/cpu/cpu_features.h"

namespace i2i::cpu {
namespace {

namespace fs = std::filesystem;

constexpr size_t kMaxFileBytes = size_t{1} << 20;

std::mutex g_mutex;
bool g_loaded = false;
fs::path g_file;
std::map<std::string, std::string> g_choices;  // "<operation and shape>" -> kernel, this machine's lines

fs::path cache_file() {
  const fs::path dir = user_cache_dir();
  return dir.empty() ? fs::path() : dir / "kernel-choices.txt";
}

// Opens `file` only if it is a regular file and not a symbolic link (never a FIFO that would block, nor a
// device that never ends); -1 otherwise. O_NONBLOCK keeps the open itself from waiting on a FIFO.
int open_regular(const fs::path& file, int flags, struct stat* st) {
  const int fd = ::open(file.c_str(), flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0644);
  if (fd < 0) return -1;
  if (::fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// The kernel names a key allows: the list after "candidates " (e.g. "amx,avx512bf16").
bool allowed(const std::string& what, const std::string& kernel) {
  const size_t at = what.rfind(" candidates ");
  if (at == std::string::npos) return false;
  // Compared name by name (no concatenation: GCC 12 warns falsely on string + string here).
  size_t pos = at + 12;
  while (pos <= what.size()) {
    size_t end = what.find(',', pos);
    if (end == std::string::npos) end = what.size();
    if (what.compare(pos, end - pos, kernel) == 0) return true;
    pos = end + 1;
  }
  return false;
}

// Fills g_choices from the whole lines of the file's first kMaxFileBytes (caller holds g_mutex).
void load() {
  if (g_loaded) return;
  g_loaded = true;
  g_file = cache_file();
  g_choices.clear();
  if (g_file.empty()) return;
  struct stat st {};
  const int fd = open_regular(g_file, O_RDONLY, &st);
  if (fd < 0) return;
  std::string text(std::min<size_t>(static_cast<size_t>(st.st_size), kMaxFileBytes), '\0');
  size_t got = 0;
  while (got < text.size()) {
    const ssize_t n = ::read(fd, text.data() + got, text.size() - got);
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  text.resize(got);
  const std::string machine = kernel_choice_machine();
  size_t pos = 0;
  for (size_t end; (end = text.find('\n', pos)) != std::string::npos; pos = end + 1) {  // whole lines only
    const std::string line = text.substr(pos, end - pos);
    const size_t a = line.find('\t'), b = a == std::string::npos ? a : line.find('\t', a + 1);
    if (b == std::string::npos || line.find('\t', b + 1) != std::string::npos) continue;
    if (a != machine.size() || line.compare(0, a, machine) != 0) continue;
    const std::string what = line.substr(a + 1, b - a - 1), kernel = line.substr(b + 1);
    if (allowed(what, kernel)) g_choices.emplace(what, kernel);  // the first valid line wins
  }
}

// A field may hold neither a tab nor a line break (it would split the line).
bool clean(const std::string& field) {
  return !field.empty() && field.find_first_of("\t\r\n") == std::string::npos;
}

}  // namespace

std::string kernel_choice_machine() {
  static const std::string machine = [] {
    std::string name = cpu_description();
    for (char& c : name)
      if (c == '\t' || c == '\r' || c == '\n') c = ' ';
    return name;
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
  if (!clean(what) || !clean(kernel) || !allowed(what, kernel)) return;
  std::lock_guard<std::mutex> lock(g_mutex);
  load();
  if (!g_choices.emplace(what, kernel).second || g_file.empty()) return;
  std::error_code ec;
  fs::create_directories(g_file.parent_path(), ec);
  struct stat st {};
  const int fd = open_regular(g_file, O_RDWR | O_APPEND | O_CREAT, &st);
  if (fd < 0) return;
  if (static_cast<size_t>(st.st_size) < kMaxFileBytes) {  // full: the choices read stay, none is added
    // A file whose last line was cut short gets a line break first, so the cut line stays alone.
    char last = '\n';
    if (st.st_size > 0 && ::pread(fd, &last, 1, st.st_size - 1) != 1) last = '\n';
    std::string line = last == '\n' ? "" : "\n";
    line += kernel_choice_machine();
    line += '\t';
    line += what;
    line += '\t';
    line += kernel;
    line += '\n';
    // One write of a short line: with O_APPEND it lands whole after whatever another process appended.
    // (Two processes choosing for the same shape at once may choose differently; the first line wins for
    // every later run.)
    [[maybe_unused]] const ssize_t written = ::write(fd, line.data(), line.size());
  }
  ::close(fd);
}

void forget_kernel_choice_cache() {
  std::lock_guard<std::mutex> lock(g_mutex);
  g_loaded = false;
  g_choices.clear();
}

}  // namespace i2i::cpu
