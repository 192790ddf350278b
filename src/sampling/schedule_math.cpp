#include "sampling/schedule_math.h"

#include <algorithm>

namespace i2i::sched {

std::vector<double> np_linspace(double start, double stop, int num, bool endpoint) {
  check(num >= 0, "linspace: negative count");
  std::vector<double> y(static_cast<size_t>(num));
  const int div = endpoint ? num - 1 : num;
  const double delta = stop - start;
  if (div > 0) {
    const double step = delta / div;
    for (int i = 0; i < num; ++i) y[i] = i * step + start;
  } else {
    for (int i = 0; i < num; ++i) y[i] = i * delta + start;
  }
  if (endpoint && num > 1) y.back() = stop;
  return y;
}

std::vector<double> np_arange(double start, double stop, double step) {
  const double len = std::ceil((stop - start) / step);
  std::vector<double> y;
  if (!(len > 0)) return y;
  const double delta = (start + step) - start;
  for (int64_t i = 0; i < static_cast<int64_t>(len); ++i) y.push_back(start + static_cast<double>(i) * delta);
  return y;
}

std::vector<float> torch_linspace_f32(float start, float end, int steps) {
  std::vector<float> out(static_cast<size_t>(steps));
  if (steps == 1) {
    out[0] = start;
    return out;
  }
  const float step = (end - start) / static_cast<float>(steps - 1);
  const int64_t halfway = steps / 2;
  auto scalar = [&](int64_t idx) {
    return idx < halfway ? start + step * static_cast<float>(idx)
                         : end - step * static_cast<float>(steps - idx - 1);
  };
  // cpu_serial_kernel_vec: while a pair of 8-lane vectors fits, each vector is base + k * step with its own
  // base; the remainder is computed element by element.
  int64_t i = 0;
  for (; i + 16 <= steps; i += 16) {
    for (int64_t c = i; c < i + 16; c += 8) {
      const float base = scalar(c);
      for (int k = 0; k < 8; ++k) out[c + k] = base + static_cast<float>(k) * step;
    }
  }
  for (; i < steps; ++i) out[i] = scalar(i);
  return out;
}

double np_interp_index(double x, const std::vector<float>& fp) {
  const int64_t n = static_cast<int64_t>(fp.size());
  if (x <= 0) return fp[0];
  if (x >= static_cast<double>(n - 1)) return fp[n - 1];
  const int64_t j = static_cast<int64_t>(std::floor(x));
  if (x == static_cast<double>(j)) return fp[j];
  const double slope = (static_cast<double>(fp[j + 1]) - fp[j]) / 1.0;
  return slope * (x - static_cast<double>(j)) + fp[j];
}

std::vector<double> karras_sigmas(double sigma_min, double sigma_max, int n) {
  const double rho = 7.0;
  std::vector<double> ramp = np_linspace(0, 1, n);
  const double min_inv_rho = std::pow(sigma_min, 1 / rho);
  const double max_inv_rho = std::pow(sigma_max, 1 / rho);
  std::vector<double> s(ramp.size());
  for (size_t i = 0; i < ramp.size(); ++i)
    s[i] = std::pow(max_inv_rho + ramp[i] * (min_inv_rho - max_inv_rho), rho);
  return s;
}

double sigma_to_t(double sigma, const std::vector<float>& log_sigmas) {
  const double log_sigma = std::log(std::max(sigma, 1e-10));
  const int64_t n = static_cast<int64_t>(log_sigmas.size());
  // Index of the last log-sigma <= log_sigma (argmax of the cumulative count), 0 when there is none.
  int64_t low = 0;
  for (int64_t i = 0; i < n; ++i)
    if (log_sigma - static_cast<double>(log_sigmas[i]) >= 0) low = i;
  low = std::min(low, n - 2);
  const int64_t high = low + 1;
  const float lo = log_sigmas[low], hi = log_sigmas[high];
  double w = (static_cast<double>(lo) - log_sigma) / static_cast<double>(lo - hi);
  w = std::clamp(w, 0.0, 1.0);
  return (1 - w) * static_cast<double>(low) + w * static_cast<double>(high);
}

float sigma_to_t_f32(float sigma, const std::vector<float>& log_sigmas) {
  const float log_sigma = std::log(std::max(sigma, 1e-10f));
  const int64_t n = static_cast<int64_t>(log_sigmas.size());
  int64_t low = 0;
  for (int64_t i = 0; i < n; ++i)
    if (log_sigma - log_sigmas[i] >= 0) low = i;
  low = std::min(low, n - 2);
  const int64_t high = low + 1;
  const float lo = log_sigmas[low], hi = log_sigmas[high];
  float w = (lo - log_sigma) / (lo - hi);
  w = std::clamp(w, 0.0f, 1.0f);
  return (1 - w) * static_cast<float>(low) + w * static_cast<float>(high);
}

std::vector<double> discrete_timesteps(const std::string& spacing, int n, int num_train, int steps_offset) {
  std::vector<double> t;
  if (spacing == "linspace") {
    t = np_linspace(0, num_train - 1, n);
    std::reverse(t.begin(), t.end());
  } else if (spacing == "leading") {
    const int ratio = num_train / n;
    for (int i = n - 1; i >= 0; --i) t.push_back(np_round(static_cast<double>(i) * ratio) + steps_offset);
  } else if (spacing == "trailing") {
    const double ratio = static_cast<double>(num_train) / n;
    for (double v : np_arange(num_train, 0, -ratio)) t.push_back(np_round(v) - 1);
  } else {
    throw Error("unknown timestep_spacing '" + spacing + "' (expected leading, linspace or trailing)");
  }
  return t;
}

Tensor k_pred_original(const std::string& prediction_type, const Tensor& sample, const Tensor& model_output,
                       float sigma) {
  if (prediction_type == "epsilon")
    return map2(sample, model_output, [sigma](float x, float m) { return x - sigma * m; });
  if (prediction_type == "v_prediction") {
    const float c_out = -sigma / std::sqrt(sigma * sigma + 1.0f);
    const float c_in = sigma * sigma + 1.0f;
    return map2(sample, model_output, [=](float x, float m) { return m * c_out + x / c_in; });
  }
  if (prediction_type == "sample") return model_output.clone();
  throw Error("unsupported prediction_type '" + prediction_type + "'");
}

}  // namespace i2i::sched
