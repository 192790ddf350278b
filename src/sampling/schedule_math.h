// Internal helpers of the samplers: numpy / torch schedule arithmetic reproduced in the precision diffusers
// uses (numpy float64 unless noted, torch float32), and element-wise tensor maps.
#pragma once

#include <cmath>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/tensor.h"

namespace i2i::sched {

// np.linspace(start, stop, num, endpoint) in float64.
std::vector<double> np_linspace(double start, double stop, int num, bool endpoint = true);
// np.arange(start, stop, step) in float64 (numpy's length rule: ceil((stop - start) / step)).
std::vector<double> np_arange(double start, double stop, double step);
// np.round: half to even.
inline double np_round(double x) {
  return std::nearbyint(x);
}
// torch.linspace(start, end, steps, dtype=float32) on an AVX2 CPU (vectorised in lanes of 8).
std::vector<float> torch_linspace_f32(float start, float end, int steps);
// np.interp(x, arange(len(fp)), fp) in float64.
double np_interp_index(double x, const std::vector<float>& fp);
// diffusers' _convert_to_karras (rho = 7) from sigma_max down to sigma_min, n values, float64.
std::vector<double> karras_sigmas(double sigma_min, double sigma_max, int n);
// diffusers' _sigma_to_t with numpy: sigma in float64 against float32 log-sigmas.
double sigma_to_t(double sigma, const std::vector<float>& log_sigmas);
// The same computed with torch float32 tensors (what KDPM2 / KDPM2 ancestral do).
float sigma_to_t_f32(float sigma, const std::vector<float>& log_sigmas);

// The k-diffusion style timesteps of Euler/LMS/Heun/DPM2 for a spacing (float64, before any cast).
std::vector<double> discrete_timesteps(const std::string& spacing, int n, int num_train, int steps_offset);

inline void check_same_shape(const Tensor& a, const Tensor& b, const char* what) {
  check(a.shape() == b.shape(),
        std::string(what) + ": shape " + shape_str(a.shape()) + " does not match " + shape_str(b.shape()));
  check(a.dtype() == DType::F32 && b.dtype() == DType::F32, std::string(what) + ": tensors must be float32");
}

// out[i] = f(a[i])
template <class F>
Tensor map1(const Tensor& a, F f) {
  check(a.dtype() == DType::F32, "scheduler: tensors must be float32");
  Tensor out = Tensor::empty(a.shape());
  const float* x = a.data<float>();
  float* o = out.data<float>();
  const int64_t n = a.numel();
  for (int64_t i = 0; i < n; ++i) o[i] = f(x[i]);
  return out;
}

// out[i] = f(a[i], b[i])
template <class F>
Tensor map2(const Tensor& a, const Tensor& b, F f, const char* what = "scheduler") {
  check_same_shape(a, b, what);
  Tensor out = Tensor::empty(a.shape());
  const float* x = a.data<float>();
  const float* y = b.data<float>();
  float* o = out.data<float>();
  const int64_t n = a.numel();
  for (int64_t i = 0; i < n; ++i) o[i] = f(x[i], y[i]);
  return out;
}

// out[i] = f(a[i], b[i], c[i])
template <class F>
Tensor map3(const Tensor& a, const Tensor& b, const Tensor& c, F f, const char* what = "scheduler") {
  check_same_shape(a, b, what);
  check_same_shape(a, c, what);
  Tensor out = Tensor::empty(a.shape());
  const float* x = a.data<float>();
  const float* y = b.data<float>();
  const float* z = c.data<float>();
  float* o = out.data<float>();
  const int64_t n = a.numel();
  for (int64_t i = 0; i < n; ++i) o[i] = f(x[i], y[i], z[i]);
  return out;
}

// v-prediction / epsilon / sample -> x0 for sigma-parameterised schedulers (diffusers' k-diffusion classes):
// epsilon: x - sigma * m; v: m * (-sigma / (sigma^2 + 1)^0.5) + x / (sigma^2 + 1); sample: m.
Tensor k_pred_original(const std::string& prediction_type, const Tensor& sample, const Tensor& model_output,
                       float sigma);

}  // namespace i2i::sched
