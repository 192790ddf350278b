// EulerAncestralDiscreteScheduler (A1111 "Euler a"): an Euler step to sigma_down plus fresh noise * sigma_up.
#include <cmath>

#include "sampling/k_scheduler.h"
#include "sampling/schedule_math.h"

namespace i2i {

namespace {

class EulerAncestral : public KScheduler {
 public:
  explicit EulerAncestral(const SchedulerConfig& c) : KScheduler(c, /*f32_linspace=*/true) {}
  std::string class_name() const override { return "EulerAncestralDiscreteScheduler"; }

  void set_timesteps(int n) override {
    use_sigma_schedule(n);
    reset_stepping();
  }

  Tensor step(const Tensor& model_output, int i, const Tensor& sample, NoiseSource& noise) override {
    check_step(i, "Euler a step");
    sched::check_same_shape(model_output, sample, "Euler a step");
    const float sigma = sigmas_[i];
    Tensor pred = sched::k_pred_original(config_.prediction_type, sample, model_output, sigma);
    const float from = sigmas_[i], to = sigmas_[i + 1];
    const float from2 = from * from, to2 = to * to;
    const float sigma_up = std::sqrt(to2 * (from2 - to2) / from2);
    const float sigma_down = std::sqrt(to2 - sigma_up * sigma_up);
    const float dt = sigma_down - sigma;
    Tensor prev = sched::map2(sample, pred, [=](float x, float p) { return x + ((x - p) / sigma) * dt; });
    Tensor e = noise.randn(model_output.shape());
    return sched::map2(prev, e, [=](float x, float z) { return x + z * sigma_up; });
  }
};

}  // namespace

std::unique_ptr<Scheduler> make_euler_ancestral(const SchedulerConfig& c) {
  return std::make_unique<EulerAncestral>(c);
}

}  // namespace i2i
