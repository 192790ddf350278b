// Internal base of the sigma-parameterised ("k-diffusion") schedulers of diffusers: Euler, Euler a, LMS,
// Heun, DPM2, DPM2 a. Shared: the timestep spacing (default linspace), the interpolated sigma schedule (or
// Karras sigmas), init_noise_sigma, scale_model_input (x / (sigma^2 + 1)^0.5) and add_noise (x + sigma
// noise).
#pragma once

#include "sampling/scheduler.h"

namespace i2i {

class KScheduler : public Scheduler {
 public:
  Tensor scale_model_input(const Tensor& sample, int step_index) override;
  Tensor add_noise(const Tensor& original, const Tensor& noise, int step_index) const override;

 protected:
  // `f32_linspace`: the class builds its linspace timesteps in float32 before interpolating (Euler).
  KScheduler(SchedulerConfig c, bool f32_linspace);

  struct Base {
    std::vector<double> timesteps;  // one per noise level
    std::vector<float> sigmas;      // one per timestep (no trailing zero), float32 as diffusers casts them
  };
  Base base_schedule(int n) const;
  // The one-evaluation-per-level schedule (Euler, Euler a, LMS): timesteps, sigmas with a final 0, and
  // init_noise_sigma for `n` steps. Stepping state is the caller's to reset.
  void use_sigma_schedule(int n);
  // Sets init_noise_sigma_ from sigmas_ (max sigma, or (max^2 + 1)^0.5 for leading spacing).
  void update_init_noise_sigma();
  // The sigma scale_model_input uses for this step (after the schedule's own state logic).
  virtual float input_sigma(int step_index) const { return sigmas_[step_index]; }

  std::vector<float> log_sigmas_;  // np.log of the training sigmas (float32)

 private:
  bool f32_linspace_;
};

}  // namespace i2i
