#include "core/memory.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>

#include "core/tensor_arena.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace i2i {

int64_t parse_mem_available(const std::string& meminfo) {
  std::istringstream in(meminfo);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("MemAvailable:", 0) != 0) continue;
    std::istringstream fields(line.substr(13));
    int64_t value = -1;
    std::string unit;
    if (!(fields >> value) || value < 0) return -1;
    fields >> unit;
    return unit == "kB" ? value * 1024 : value;
  }
  return -1;
}

int64_t available_memory_bytes() {
  std::ifstream f("/proc/meminfo");
  if (!f) return -1;
  std::stringstream ss;
  ss << f.rdbuf();
  return parse_mem_available(ss.str());
}

void release_free_memory() {
  arena_release();
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
}

void log_memory(const char* phase) {
  static const bool on = [] {
    const char* v = std::getenv("I2I_DEBUG_MEMORY");
    return v != nullptr && v[0] != '\0' && std::strcmp(v, "0") != 0;
  }();
  if (!on) return;
  std::ifstream f("/proc/self/status");
  std::string line;
  long long rss = -1, anon = -1, file = -1, hwm = -1;
  while (std::getline(f, line)) {
    long long* slot = line.rfind("VmRSS:", 0) == 0     ? &rss
                      : line.rfind("RssAnon:", 0) == 0 ? &anon
                      : line.rfind("RssFile:", 0) == 0 ? &file
                      : line.rfind("VmHWM:", 0) == 0   ? &hwm
                                                       : nullptr;
    if (slot) *slot = std::atoll(line.c_str() + line.find(':') + 1) * 1024 / 1000000;  // KiB -> MB
  }
  std::fprintf(stderr, "[memory] %s: rss %lld MB (anon %lld, file %lld), peak %lld MB\n", phase, rss, anon,
               file, hwm);
}

namespace {
std::atomic<bool> g_malloc_tuned{false};
}  // namespace

bool malloc_tuning_opted_out(const char* env_value) {
  return env_value != nullptr && env_value[0] != '\0' && std::strcmp(env_value, "0") != 0;
}

void init_runtime() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (malloc_tuning_opted_out(std::getenv("I2I_NO_MALLOPT"))) return;
#if defined(__GLIBC__)
    const bool ok = mallopt(M_MMAP_THRESHOLD, 32 << 20) == 1 && mallopt(M_TRIM_THRESHOLD, 256 << 20) == 1;
    g_malloc_tuned.store(ok);
#endif
  });
}

bool runtime_malloc_tuned() {
  return g_malloc_tuned.load();
}

}  // namespace i2i
