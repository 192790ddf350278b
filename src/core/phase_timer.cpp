#include "core/phase_timer.h"

#include <atomic>
#include <cstdio>
#include <mutex>

namespace i2i::phase_timer {
namespace {

std::atomic<bool> g_enabled{false};
std::mutex g_mutex;
std::vector<Entry> g_entries;  // guarded by g_mutex
thread_local const char* t_component = nullptr;

}  // namespace

void enable(bool on) {
  g_enabled.store(on, std::memory_order_relaxed);
}

bool enabled() {
  return g_enabled.load(std::memory_order_relaxed);
}

void reset() {
  std::lock_guard<std::mutex> lock(g_mutex);
  g_entries.clear();
}

void add(const char* phase, double seconds) {
  if (!enabled()) return;
  const std::string component = t_component ? t_component : "other";
  std::lock_guard<std::mutex> lock(g_mutex);
  for (Entry& e : g_entries)
    if (e.component == component && e.phase == phase) {
      e.seconds += seconds;
      ++e.count;
      return;
    }
  g_entries.push_back({component, phase, seconds, 1});
}

ComponentScope::ComponentScope(const char* component) : previous_(t_component) {
  t_component = component;
}

ComponentScope::~ComponentScope() {
  t_component = previous_;
}

std::vector<Entry> snapshot() {
  std::lock_guard<std::mutex> lock(g_mutex);
  return g_entries;
}

std::string format(const std::vector<Entry>& entries, const std::string& prefix) {
  std::string out;
  char line[160];
  for (const Entry& e : entries) {
    std::snprintf(line, sizeof line, "%s%-13s %-13s %8.3f s (%ld)\n", prefix.c_str(), e.component.c_str(),
                  e.phase.c_str(), e.seconds, e.count);
    out += line;
  }
  return out;
}

}  // namespace i2i::phase_timer
