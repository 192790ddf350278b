// Internal: the schedule shared by DPMSolverMultistepScheduler and UniPCMultistepScheduler (integer
// timesteps from the lambda-clipped range, interpolated or Karras sigmas plus a final sigma), and their
// alpha/sigma/lambda arithmetic in float32.
#pragma once

#include <cmath>

#include "sampling/scheduler.h"

namespace i2i::sched {

struct MultistepSchedule {
  std::vector<double> timesteps;
  std::vector<float> sigmas;  // timesteps.size() + 1 entries
};

// `final_sigma_zero`: the appended last sigma is 0 (DPM-Solver's final_sigmas_type "zero"), else sigma_min.
MultistepSchedule multistep_schedule(const SchedulerConfig& c, const std::string& spacing, int n,
                                     const std::vector<float>& alphas_cumprod, bool final_sigma_zero);

struct AlphaSigma {
  float alpha, sigma, lambda;
};
// alpha_t = 1 / (sigma^2 + 1)^0.5, sigma_t = sigma * alpha_t, lambda = log(alpha_t) - log(sigma_t).
inline AlphaSigma alpha_sigma(float sigma) {
  const float alpha = 1.0f / std::sqrt(sigma * sigma + 1.0f);
  const float s = sigma * alpha;
  return {alpha, s, std::log(alpha) - std::log(s)};
}

// The model's prediction of the clean sample x0 at noise level `sigma` (DPM-Solver++ and UniPC work in data
// prediction): from epsilon (x - sigma_t eps) / alpha_t, from v alpha_t x - sigma_t v, or the output itself
// for "sample".
Tensor data_prediction(const std::string& prediction_type, float sigma, const Tensor& sample,
                       const Tensor& model_output);

}  // namespace i2i::sched
