// A one-line progress bar on stderr: step count, seconds per step and ETA. Silent when stderr is not a
// terminal or when quiet.
#pragma once

#include <chrono>
#include <string>

namespace i2i::cli {

class ProgressBar {
 public:
  ProgressBar(std::string label, bool quiet);
  // Call after step `step` (1-based) of `total` has finished.
  void update(int step, int total);
  // Ends the line (if one was drawn).
  void finish();
  bool active() const { return active_; }

 private:
  std::string label_;
  bool active_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace i2i::cli
