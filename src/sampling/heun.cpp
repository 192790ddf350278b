// HeunDiscreteScheduler (A1111 "Heun"): order 2, every noise level but the first appears twice in the
// schedule; the first visit takes an Euler step, the second corrects it with the averaged derivative.
#include <cmath>

#include "sampling/k_scheduler.h"
#include "sampling/schedule_math.h"

namespace i2i {

namespace {

class Heun : public KScheduler {
 public:
  explicit Heun(const SchedulerConfig& c) : KScheduler(c, /*f32_linspace=*/true) {}
  std::string class_name() const override { return "HeunDiscreteScheduler"; }
  int order() const override { return 2; }

  void set_timesteps(int n) override {
    Base b = base_schedule(n);
    b.sigmas.push_back(0.0f);
    // [s0, s1, s1, ..., s_last, s_last, 0] and [t0, t1, t1, ..., t_last, t_last]
    sigmas_ = {b.sigmas[0]};
    for (size_t k = 1; k + 1 < b.sigmas.size(); ++k) sigmas_.insert(sigmas_.end(), 2, b.sigmas[k]);
    sigmas_.push_back(b.sigmas.back());
    timesteps_ = {b.timesteps[0]};
    for (size_t k = 1; k < b.timesteps.size(); ++k) timesteps_.insert(timesteps_.end(), 2, b.timesteps[k]);
    num_inference_steps_ = n;
    update_init_noise_sigma();
    first_order_ = true;
    reset_stepping();
  }

  Tensor step(const Tensor& model_output, int i, const Tensor& sample, NoiseSource&) override {
    check_step(i, "Heun step");
    sched::check_same_shape(model_output, sample, "Heun step");
    if (first_order_) {
      const float sigma_hat = sigmas_[i], sigma_next = sigmas_[i + 1];
      Tensor pred = sched::k_pred_original(config_.prediction_type, sample, model_output, sigma_hat);
      prev_derivative_ = sched::map2(sample, pred, [=](float x, float p) { return (x - p) / sigma_hat; });
      dt_ = sigma_next - sigma_hat;
      saved_sample_ = sample;
      first_order_ = false;
      const float dt = dt_;
      return sched::map2(sample, prev_derivative_, [dt](float x, float d) { return x + d * dt; });
    }
    const float sigma_next = sigmas_[i];
    Tensor pred = sched::k_pred_original(config_.prediction_type, sample, model_output, sigma_next);
    Tensor d2 = sched::map3(sample, pred, prev_derivative_,
                            [=](float x, float p, float d1) { return (d1 + (x - p) / sigma_next) / 2; });
    const float dt = dt_;
    Tensor prev = sched::map2(saved_sample_, d2, [dt](float x, float d) { return x + d * dt; });
    first_order_ = true;
    saved_sample_ = Tensor();
    prev_derivative_ = Tensor();
    return prev;
  }

 private:
  bool first_order_ = true;
  Tensor prev_derivative_, saved_sample_;
  float dt_ = 0;
};

}  // namespace

std::unique_ptr<Scheduler> make_heun(const SchedulerConfig& c) {
  return std::make_unique<Heun>(c);
}

}  // namespace i2i
