// EulerDiscreteScheduler (A1111 "Euler"). With s_churn = 0 the step is deterministic, yet diffusers draws a
// noise tensor on every step (it advances the generator), so this does too.
#include <cmath>

#include "sampling/k_scheduler.h"
#include "sampling/schedule_math.h"

namespace i2i {

namespace {

class Euler : public KScheduler {
 public:
  explicit Euler(const SchedulerConfig& c) : KScheduler(c, /*f32_linspace=*/true) {}
  std::string class_name() const override { return "EulerDiscreteScheduler"; }

  void set_timesteps(int n) override {
    use_sigma_schedule(n);
    reset_stepping();
  }

  Tensor step(const Tensor& model_output, int i, const Tensor& sample, NoiseSource& noise) override {
    check_step(i, "Euler step");
    sched::check_same_shape(model_output, sample, "Euler step");
    noise.randn(model_output.shape());  // unused with s_churn = 0, drawn as diffusers does
    const float sigma = sigmas_[i];
    const float sigma_hat = sigma;  // sigma * (gamma + 1) with gamma = 0
    // (diffusers uses sigma_hat for epsilon and sigma for v-prediction; equal here)
    Tensor pred = sched::k_pred_original(config_.prediction_type, sample, model_output, sigma_hat);
    const float dt = sigmas_[i + 1] - sigma_hat;
    return sched::map2(sample, pred, [=](float x, float p) { return x + ((x - p) / sigma_hat) * dt; });
  }
};

}  // namespace

std::unique_ptr<Scheduler> make_euler(const SchedulerConfig& c) {
  return std::make_unique<Euler>(c);
}

}  // namespace i2i
