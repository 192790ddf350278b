#include "models/unet_time.h"

#include <cmath>

#include "core/error.h"
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

Tensor guidance_scale_embedding(const std::vector<float>& w, int64_t dim) {
  const int64_t half = dim / 2;
  check(half >= 2, "guidance_scale_embedding: the embedding width must be at least 4");
  // torch: emb = log(10000) / (half - 1); exp(arange(half) * -emb); (w * 1000)[:, None] * emb[None, :].
  const float step = std::log(10000.0f) / static_cast<float>(half - 1);
  std::vector<float> freq(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; ++i) freq[i] = std::exp(static_cast<float>(i) * -step);
  const int64_t b = static_cast<int64_t>(w.size());
  Tensor out = Tensor::zeros({b, dim});
  float* o = out.data<float>();
  for (int64_t n = 0; n < b; ++n) {
    const float scaled = w[n] * 1000.0f;
    for (int64_t i = 0; i < half; ++i) {
      const float arg = scaled * freq[i];
      o[n * dim + i] = std::sin(arg);
      o[n * dim + half + i] = std::cos(arg);
    }
  }
  return out;
}

TimestepMlp::TimestepMlp(const Weights& w, const std::string& prefix, int64_t in, int64_t out,
                         Precision precision, int64_t cond_dim)
    : linear_1_(load_linear(w, prefix + "linear_1", out, in, true, precision)),
      linear_2_(load_linear(w, prefix + "linear_2", out, out, true, precision)) {
  if (cond_dim > 0) cond_proj_ = load_linear(w, prefix + "cond_proj", in, cond_dim, false, precision);
}

Tensor TimestepMlp::operator()(const Tensor& x, const Tensor& cond) const {
  if (!cond_proj_) {
    check(!cond.defined(), "time embedding: a timestep_cond was given, but the UNet has no cond_proj");
    return linear_2_(ops::silu(linear_1_(x)));
  }
  check(cond.defined() && cond.ndim() == 2 && cond.dim(0) == x.dim(0) && cond.dtype() == DType::F32,
        "time embedding: this UNet (time_cond_proj_dim) needs a float32 timestep_cond [" +
            std::to_string(x.dim(0)) + ", dim] (LCM's guidance embedding), got " +
            (cond.defined() ? shape_str(cond.shape()) : std::string("none")));
  return linear_2_(ops::silu(linear_1_(ops::add(x, (*cond_proj_)(cond)))));
}

void TimestepMlp::visit_layers(const std::string& prefix, const LayerVisitor& f) {
  visit_layer(f, prefix + "linear_1", linear_1_);
  visit_layer(f, prefix + "linear_2", linear_2_);
}

}  // namespace i2i
