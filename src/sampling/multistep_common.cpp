#include "sampling/multistep_common.h"

#include <algorithm>

#include "sampling/schedule_math.h"

namespace i2i::sched {

MultistepSchedule multistep_schedule(const SchedulerConfig& c, const std::string& spacing, int n,
                                     const std::vector<float>& alphas_cumprod, bool final_sigma_zero) {
  const int T = c.num_train_timesteps;
  check(n >= 1 && n <= T, "set_timesteps: the number of steps must be in [1, " + std::to_string(T) + "]");
  // clipped_idx = searchsorted(flip(lambda_t), lambda_min_clipped)
  int clipped = 0;
  if (std::isfinite(c.lambda_min_clipped) || c.lambda_min_clipped > 0) {
    std::vector<float> lambdas;
    for (auto it = alphas_cumprod.rbegin(); it != alphas_cumprod.rend(); ++it)
      lambdas.push_back(std::log(std::sqrt(*it)) - std::log(std::sqrt(1.0f - *it)));
    clipped = static_cast<int>(
        std::lower_bound(lambdas.begin(), lambdas.end(), static_cast<float>(c.lambda_min_clipped)) -
        lambdas.begin());
  }
  const int last = T - clipped;
  MultistepSchedule s;
  if (spacing == "linspace") {
    std::vector<double> t = np_linspace(0, last - 1, n + 1);
    for (int i = n; i >= 1; --i) s.timesteps.push_back(np_round(t[i]));
  } else if (spacing == "leading") {
    const int ratio = last / (n + 1);
    for (int i = n; i >= 1; --i) s.timesteps.push_back(static_cast<double>(i) * ratio + c.steps_offset);
  } else if (spacing == "trailing") {
    for (double v : np_arange(last, 0, -static_cast<double>(T) / n)) s.timesteps.push_back(np_round(v) - 1);
  } else {
    throw Error("unknown timestep_spacing '" + spacing + "' (expected leading, linspace or trailing)");
  }
  std::vector<float> table(alphas_cumprod.size()), log_table(alphas_cumprod.size());
  for (size_t i = 0; i < table.size(); ++i) {
    table[i] = std::sqrt((1.0f - alphas_cumprod[i]) / alphas_cumprod[i]);
    log_table[i] = std::log(table[i]);
  }
  std::vector<double> sig;
  if (c.use_karras_sigmas) {
    sig = karras_sigmas(table.front(), table.back(), n);
    s.timesteps.clear();
    for (double v : sig) s.timesteps.push_back(np_round(sigma_to_t(v, log_table)));
  } else {
    for (double t : s.timesteps) sig.push_back(np_interp_index(t, table));
  }
  for (double v : sig) s.sigmas.push_back(static_cast<float>(v));
  s.sigmas.push_back(final_sigma_zero ? 0.0f : table[0]);
  return s;
}

Tensor data_prediction(const std::string& prediction_type, float sigma, const Tensor& sample,
                       const Tensor& model_output) {
  const AlphaSigma cur = alpha_sigma(sigma);
  if (prediction_type == "epsilon")
    return map2(sample, model_output, [cur](float x, float m) { return (x - cur.sigma * m) / cur.alpha; });
  if (prediction_type == "v_prediction")
    return map2(sample, model_output, [cur](float x, float m) { return cur.alpha * x - cur.sigma * m; });
  return model_output;
}

}  // namespace i2i::sched
