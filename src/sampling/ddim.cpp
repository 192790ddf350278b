// DDIMScheduler (A1111 "DDIM"), deterministic for eta = 0 (eta > 0 draws variance noise each step).
#include <cmath>

#include "sampling/schedule_math.h"
#include "sampling/scheduler.h"

namespace i2i {

namespace {

class Ddim : public Scheduler {
 public:
  explicit Ddim(const SchedulerConfig& c) : Scheduler(c) {
    spacing_ = config_.timestep_spacing.value_or("leading");
    if (!config_.set_alpha_to_one) config_.set_alpha_to_one = true;  // DDIM's default
  }
  std::string class_name() const override { return "DDIMScheduler"; }
  bool integer_timesteps() const override { return true; }

  void set_timesteps(int n) override {
    const int T = config_.num_train_timesteps;
    check(n >= 1 && n <= T, "set_timesteps: the number of steps must be in [1, " + std::to_string(T) + "]");
    timesteps_.clear();
    if (spacing_ == "linspace") {
      std::vector<double> t = sched::np_linspace(0, T - 1, n);
      for (auto it = t.rbegin(); it != t.rend(); ++it) timesteps_.push_back(sched::np_round(*it));
    } else if (spacing_ == "leading") {
      const int ratio = T / n;
      for (int i = n - 1; i >= 0; --i)
        timesteps_.push_back(static_cast<double>(i) * ratio + config_.steps_offset);
    } else if (spacing_ == "trailing") {
      for (double v : sched::np_arange(T, 0, -static_cast<double>(T) / n))
        timesteps_.push_back(sched::np_round(v) - 1);
    } else {
      throw Error("DDIM: unknown timestep_spacing '" + spacing_ + "'");
    }
    num_inference_steps_ = n;
    reset_stepping();
  }

  Tensor step(const Tensor& model_output, int i, const Tensor& sample, NoiseSource& noise) override {
    check_step(i, "DDIM step");
    sched::check_same_shape(model_output, sample, "DDIM step");
    const int t = static_cast<int>(timesteps_[i]);
    // diffusers steps back by T // n whatever the spacing.
    const int prev_t = t - config_.num_train_timesteps / num_inference_steps_;
    const float a = alphas_cumprod_[t];
    const float a_prev = prev_t >= 0 ? alphas_cumprod_[prev_t] : final_alpha_cumprod();
    const float b = 1.0f - a;
    const float sa = std::sqrt(a), sb = std::sqrt(b);
    Tensor pred_x0, pred_eps;
    if (config_.prediction_type == "epsilon") {
      pred_x0 = sched::map2(sample, model_output, [=](float x, float m) { return (x - sb * m) / sa; });
      pred_eps = model_output;
    } else if (config_.prediction_type == "v_prediction") {
      pred_x0 = sched::map2(sample, model_output, [=](float x, float m) { return sa * x - sb * m; });
      pred_eps = sched::map2(sample, model_output, [=](float x, float m) { return sa * m + sb * x; });
    } else {
      pred_x0 = model_output;
      pred_eps = sched::map2(sample, model_output, [=](float x, float m) { return (x - sa * m) / sb; });
    }
    // variance = (1 - a_prev) / (1 - a) * (1 - a / a_prev); std = eta * variance^0.5
    const float b_prev = 1.0f - a_prev;
    const float variance = (b_prev / b) * (1.0f - a / a_prev);
    const float std_dev = static_cast<float>(config_.eta) * std::sqrt(variance);
    const float dir = std::sqrt(1.0f - a_prev - std_dev * std_dev);
    const float sa_prev = std::sqrt(a_prev);
    Tensor prev = sched::map2(pred_x0, pred_eps, [=](float x0, float e) { return sa_prev * x0 + dir * e; });
    if (config_.eta > 0) {
      Tensor z = noise.randn(model_output.shape());
      prev = sched::map2(prev, z, [std_dev](float x, float v) { return x + std_dev * v; });
    }
    return prev;
  }
};

}  // namespace

std::unique_ptr<Scheduler> make_ddim(const SchedulerConfig& c) {
  return std::make_unique<Ddim>(c);
}

}  // namespace i2i
