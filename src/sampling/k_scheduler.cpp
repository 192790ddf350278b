#include "sampling/k_scheduler.h"

#include <algorithm>
#include <cmath>

#include "sampling/schedule_math.h"

namespace i2i {

KScheduler::KScheduler(SchedulerConfig c, bool f32_linspace)
    : Scheduler(std::move(c)), f32_linspace_(f32_linspace) {
  spacing_ = config_.timestep_spacing.value_or("linspace");
  for (float s : training_sigmas()) log_sigmas_.push_back(std::log(s));
}

KScheduler::Base KScheduler::base_schedule(int n) const {
  check(n >= 1 && n <= config_.num_train_timesteps, "set_timesteps: the number of steps must be in [1, " +
                                                        std::to_string(config_.num_train_timesteps) + "]");
  Base b;
  b.timesteps = sched::discrete_timesteps(spacing_, n, config_.num_train_timesteps, config_.steps_offset);
  if (f32_linspace_ || spacing_ != "linspace")
    for (double& t : b.timesteps) t = static_cast<float>(t);
  const std::vector<float> table = training_sigmas();
  std::vector<double> sig;
  for (double t : b.timesteps) sig.push_back(sched::np_interp_index(t, table));
  if (config_.use_karras_sigmas) {
    sig = sched::karras_sigmas(sig.back(), sig.front(), n);
    b.timesteps.clear();
    for (double s : sig) b.timesteps.push_back(sched::sigma_to_t(s, log_sigmas_));
  }
  // Timesteps end up as float32 tensors.
  for (double& t : b.timesteps) t = static_cast<float>(t);
  for (double s : sig) b.sigmas.push_back(static_cast<float>(s));
  return b;
}

void KScheduler::update_init_noise_sigma() {
  float m = 0;
  for (float s : sigmas_) m = std::max(m, s);
  init_noise_sigma_ = (spacing_ == "linspace" || spacing_ == "trailing") ? m : std::sqrt(m * m + 1.0f);
}

Tensor KScheduler::scale_model_input(const Tensor& sample, int step_index) {
  timestep(step_index);
  const float sigma = input_sigma(step_index);
  const float d = std::sqrt(sigma * sigma + 1.0f);
  return sched::map1(sample, [d](float x) { return x / d; });
}

Tensor KScheduler::add_noise(const Tensor& original, const Tensor& noise, int step_index) const {
  timestep(step_index);
  const float sigma = sigmas_[step_index];
  return sched::map2(
      original, noise, [sigma](float x, float e) { return x + e * sigma; }, "add_noise");
}

void KScheduler::use_sigma_schedule(int n) {
  Base b = base_schedule(n);
  timesteps_ = b.timesteps;
  sigmas_ = b.sigmas;
  sigmas_.push_back(0.0f);
  num_inference_steps_ = n;
  update_init_noise_sigma();
}

}  // namespace i2i
