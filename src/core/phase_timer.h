// Phase timing: where the fixed cost of a run goes (issue 20). Loaders and the backend report seconds under
// (component, phase): the component is the model part being built or run ("text_encoder", "unet", "vae",
// set by a ComponentScope on the calling thread), the phase what the time went to:
//   read_convert  reading the file's weights and converting them (fp16 -> float32 / bf16),
//   reorder       oneDNN weight reorders into the layout a primitive wants,
//   primitive     oneDNN primitive descriptor and primitive (JIT kernel) creation,
//   first_call    a component's first forward (its first-use costs included: the primitive and reorder
//                 seconds spent inside it are also listed under their own phases).
// Off by default: a disabled timer costs one relaxed atomic load per scope and reports nothing. Totals are
// process-wide (a mutex guards them); reports come from the thread that runs the phase, not from inside
// OpenMP regions.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace i2i::phase_timer {

void enable(bool on);
bool enabled();
// Drops every total (the next run starts from zero).
void reset();

// Adds `seconds` (and one occurrence) to (the calling thread's component, phase).
void add(const char* phase, double seconds);

// The component the calling thread's reports go to while it lives (nested scopes restore the outer one).
// Without one, reports go to "other".
class ComponentScope {
 public:
  explicit ComponentScope(const char* component);
  ~ComponentScope();
  ComponentScope(const ComponentScope&) = delete;
  ComponentScope& operator=(const ComponentScope&) = delete;

 private:
  const char* previous_;
};

// Times its own lifetime into (component, phase) when the timer is enabled.
class Scope {
 public:
  explicit Scope(const char* phase) : phase_(enabled() ? phase : nullptr) {
    if (phase_) start_ = std::chrono::steady_clock::now();
  }
  ~Scope() {
    if (phase_) add(phase_, std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count());
  }
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;

 private:
  const char* phase_;
  std::chrono::steady_clock::time_point start_;
};

struct Entry {
  std::string component, phase;
  double seconds = 0;
  long count = 0;  // how many reports were summed
};
// The totals, in the order (component, phase) pairs were first reported.
std::vector<Entry> snapshot();
// One line per entry: "<component> <phase> <seconds> s (<count>)", prefixed by `prefix`.
std::string format(const std::vector<Entry>& entries, const std::string& prefix = "");

}  // namespace i2i::phase_timer
