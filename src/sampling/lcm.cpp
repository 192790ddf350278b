// LCMScheduler (latent consistency models): timesteps picked from a 50-step origin schedule; each step
// predicts the denoised sample (boundary-condition scalings) and re-noises it with fresh noise, except the
// last step.
#include <cmath>

#include "sampling/schedule_math.h"
#include "sampling/scheduler.h"

namespace i2i {

namespace {

class Lcm : public Scheduler {
 public:
  explicit Lcm(const SchedulerConfig& c) : Scheduler(c) {
    spacing_ = config_.timestep_spacing.value_or("leading");
    if (!config_.set_alpha_to_one) config_.set_alpha_to_one = true;
  }
  std::string class_name() const override { return "LCMScheduler"; }
  bool integer_timesteps() const override { return true; }

  void set_timesteps(int n) override {
    const int T = config_.num_train_timesteps;
    const int original = config_.original_inference_steps;
    check(original >= 1 && original <= T,
          "LCM: original_inference_steps must be in [1, num_train_timesteps]");
    check(n >= 1 && n <= original, "LCM: the number of steps must be in [1, original_inference_steps = " +
                                       std::to_string(original) + "]");
    const int k = T / original;
    std::vector<int> origin;  // descending: original * k - 1, ..., k - 1
    for (int i = original; i >= 1; --i) origin.push_back(i * k - 1);
    check(static_cast<int>(origin.size()) / n >= 1, "LCM: too many steps for the origin schedule");
    timesteps_.clear();
    for (double idx : sched::np_linspace(0, static_cast<double>(origin.size()), n, /*endpoint=*/false))
      timesteps_.push_back(origin[static_cast<size_t>(std::floor(idx))]);
    num_inference_steps_ = n;
    reset_stepping();
  }

  Tensor step(const Tensor& model_output, int i, const Tensor& sample, NoiseSource& noise) override {
    check_step(i, "LCM step");
    sched::check_same_shape(model_output, sample, "LCM step");
    const int t = static_cast<int>(timesteps_[i]);
    const int prev_t = i + 1 < static_cast<int>(timesteps_.size()) ? static_cast<int>(timesteps_[i + 1]) : t;
    const float a = alphas_cumprod_[t];
    const float a_prev = prev_t >= 0 ? alphas_cumprod_[prev_t] : final_alpha_cumprod();
    const float b = 1.0f - a, b_prev = 1.0f - a_prev;
    // Boundary condition scalings (sigma_data 0.5), in float32 like the torch expression.
    const float scaled = static_cast<float>(t) * static_cast<float>(config_.timestep_scaling);
    const float c_skip = 0.25f / (scaled * scaled + 0.25f);
    const float c_out = scaled / std::sqrt(scaled * scaled + 0.25f);
    const float sa = std::sqrt(a), sb = std::sqrt(b);
    Tensor x0;
    if (config_.prediction_type == "epsilon") {
      x0 = sched::map2(sample, model_output, [=](float x, float m) { return (x - sb * m) / sa; });
    } else if (config_.prediction_type == "v_prediction") {
      x0 = sched::map2(sample, model_output, [=](float x, float m) { return sa * x - sb * m; });
    } else {
      x0 = model_output;
    }
    Tensor denoised = sched::map2(x0, sample, [=](float p, float x) { return c_out * p + c_skip * x; });
    if (i == num_inference_steps_ - 1) return denoised;
    Tensor z = noise.randn(model_output.shape());
    const float sa_prev = std::sqrt(a_prev), sb_prev = std::sqrt(b_prev);
    return sched::map2(denoised, z, [=](float d, float e) { return sa_prev * d + sb_prev * e; });
  }
};

}  // namespace

std::unique_ptr<Scheduler> make_lcm(const SchedulerConfig& c) {
  return std::make_unique<Lcm>(c);
}

}  // namespace i2i
