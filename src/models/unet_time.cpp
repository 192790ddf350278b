#include "models/unet_time.h"

#include <cmath>

#include "kernels/ops.h"

namespace i2i {

Tensor timestep_embedding(const std::vector<float>& timesteps, int64_t dim, bool flip_sin_to_cos,
                          float freq_shift) {
  const int64_t half = dim / 2;
  std::vector<float> freq(static_cast<size_t>(half));
  const float neg_log_period = static_cast<float>(-std::log(10000.0));
  const float denom = static_cast<float>(half) - freq_shift;
  for (int64_t i = 0; i < half; ++i) freq[i] = std::exp(neg_log_period * static_cast<float>(i) / denom);
  const int64_t b = static_cast<int64_t>(timesteps.size());
  Tensor out = Tensor::zeros({b, dim});  // an odd dim leaves the last column zero (diffusers pads)
  float* o = out.data<float>();
  const int64_t sin_at = flip_sin_to_cos ? half : 0, cos_at = flip_sin_to_cos ? 0 : half;
  for (int64_t n = 0; n < b; ++n)
    for (int64_t i = 0; i < half; ++i) {
      float arg = timesteps[n] * freq[i];
      o[n * dim + sin_at + i] = std::sin(arg);
      o[n * dim + cos_at + i] = std::cos(arg);
    }
  return out;
}

TimestepMlp::TimestepMlp(const Weights& w, const std::string& prefix, int64_t in, int64_t out,
                         Precision precision)
    : linear_1_(load_linear(w, prefix + "linear_1", out, in, true, precision)),
      linear_2_(load_linear(w, prefix + "linear_2", out, out, true, precision)) {}

Tensor TimestepMlp::operator()(const Tensor& x) const {
  return linear_2_(ops::silu(linear_1_(x)));
}

void TimestepMlp::visit_layers(const std::string& prefix, const LayerVisitor& f) {
  visit_layer(f, prefix + "linear_1", linear_1_);
  visit_layer(f, prefix + "linear_2", linear_2_);
}

}  // namespace i2i
