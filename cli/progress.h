// A one-line progress bar on stderr: step count, seconds per step and ETA. Silent when stderr is not a
// terminal or when quiet.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "pipelines/generation.h"

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

// A generate() progress callback drawing one bar per batch ("batch 2/3" when there are several, else the
// command's name).
class BatchProgressBars {
 public:
  BatchProgressBars(std::string command, bool quiet) : command_(std::move(command)), quiet_(quiet) {}
  bool operator()(const GenerationProgress& s);

 private:
  std::string command_;
  bool quiet_;
  std::shared_ptr<ProgressBar> bar_;  // shared: std::function copies the callback
  int batch_ = -1;
};

}  // namespace i2i::cli
