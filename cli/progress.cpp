#include "progress.h"

#include <unistd.h>

#include <cstdio>

namespace i2i::cli {

ProgressBar::ProgressBar(std::string label, bool quiet)
    : label_(std::move(label)),
      active_(!quiet && isatty(STDERR_FILENO)),
      start_(std::chrono::steady_clock::now()) {}

void ProgressBar::update(int step, int total) {
  if (!active_ || total <= 0) return;
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  double per = step > 0 ? elapsed / step : 0;
  double eta = per * (total - step);
  const int width = 30;
  int filled = total ? step * width / total : width;
  std::string bar(static_cast<size_t>(filled), '#');
  bar.resize(width, '-');
  std::fprintf(stderr, "\r%s [%s] %d/%d  %.2f s/it  ETA %.0fs   ", label_.c_str(), bar.c_str(), step, total,
               per, eta);
  std::fflush(stderr);
  drawn_ = true;
}

void ProgressBar::finish() {
  if (drawn_) std::fprintf(stderr, "\n");
  drawn_ = false;
}

bool BatchProgressBars::operator()(const GenerationProgress& s) {
  if (s.batch != batch_) {
    if (bar_) bar_->finish();
    batch_ = s.batch;
    const std::string n = std::to_string(s.batch + 1) + "/" + std::to_string(s.batches);
    bar_ = std::make_shared<ProgressBar>(s.batches > 1 ? "batch " + n : command_, quiet_);
  }
  bar_->update(s.step, s.steps);
  if (s.step == s.steps) bar_->finish();
  return true;
}

}  // namespace i2i::cli
