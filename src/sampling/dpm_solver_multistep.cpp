// DPMSolverMultistepScheduler: A1111 "DPM++ 2M" (dpmsolver++, order 2), "DPM++ 2M Karras" (+ Karras sigmas)
// and "DPM++ 2M SDE" (sde-dpmsolver++, which draws noise on every step). Works in data prediction (x0).
#include <array>
#include <cmath>

#include "sampling/multistep_common.h"
#include "sampling/schedule_math.h"

namespace i2i {

namespace {

class DpmSolverMultistep : public Scheduler {
 public:
  explicit DpmSolverMultistep(const SchedulerConfig& c) : Scheduler(c) {
    spacing_ = config_.timestep_spacing.value_or("linspace");
    sde_ = config_.algorithm_type == "sde-dpmsolver++";
    check(sde_ || config_.algorithm_type == "dpmsolver++",
          "DPM-Solver: algorithm_type '" + config_.algorithm_type +
              "' is not supported (expected dpmsolver++ or sde-dpmsolver++)");
    check(config_.solver_order == 1 || config_.solver_order == 2,
          "DPM-Solver: solver_order " + std::to_string(config_.solver_order) + " is not supported (1 or 2)");
    solver_type_ = config_.solver_type.value_or("midpoint");
    check(solver_type_ == "midpoint" || solver_type_ == "heun",
          "DPM-Solver: solver_type must be midpoint or heun, got '" + solver_type_ + "'");
    check(config_.final_sigmas_type == "zero" || config_.final_sigmas_type == "sigma_min",
          "DPM-Solver: final_sigmas_type must be zero or sigma_min");
  }
  std::string class_name() const override { return "DPMSolverMultistepScheduler"; }
  bool integer_timesteps() const override { return true; }

  void set_timesteps(int n) override {
    sched::MultistepSchedule s =
        sched::multistep_schedule(config_, spacing_, n, alphas_cumprod_, config_.final_sigmas_type == "zero");
    timesteps_ = s.timesteps;
    sigmas_ = s.sigmas;
    num_inference_steps_ = static_cast<int>(timesteps_.size());
    init_noise_sigma_ = 1.0f;
    outputs_ = {};
    lower_order_nums_ = 0;
    reset_stepping();
  }

  Tensor add_noise(const Tensor& original, const Tensor& noise, int step_index) const override {
    timestep(step_index);
    const sched::AlphaSigma as = sched::alpha_sigma(sigmas_[step_index]);
    return sched::map2(
        original, noise, [as](float x, float e) { return as.alpha * x + as.sigma * e; }, "add_noise");
  }

  Tensor step(const Tensor& model_output, int i, const Tensor& sample, NoiseSource& noise) override {
    check_step(i, "DPM-Solver step");
    sched::check_same_shape(model_output, sample, "DPM-Solver step");
    const int n = static_cast<int>(timesteps_.size());
    const bool lower_order_final =
        i == n - 1 && (config_.euler_at_final || (config_.lower_order_final && n < 15) ||
                       config_.final_sigmas_type == "zero");
    // Data prediction x0.
    Tensor x0 = sched::data_prediction(config_.prediction_type, sigmas_[i], sample, model_output);
    outputs_[0] = outputs_[1];
    outputs_[1] = x0;
    Tensor z;
    if (sde_) z = noise.randn(model_output.shape());
    Tensor prev;
    if (config_.solver_order == 1 || lower_order_nums_ < 1 || lower_order_final) {
      prev = first_order(x0, i, sample, z);
    } else {
      prev = second_order(i, sample, z);
    }
    if (lower_order_nums_ < config_.solver_order) ++lower_order_nums_;
    return prev;
  }

 private:
  Tensor first_order(const Tensor& x0, int i, const Tensor& sample, const Tensor& z) const {
    const sched::AlphaSigma t = sched::alpha_sigma(sigmas_[i + 1]);
    const sched::AlphaSigma s = sched::alpha_sigma(sigmas_[i]);
    const float h = t.lambda - s.lambda;
    if (!sde_) {
      const float c1 = t.sigma / s.sigma, c2 = t.alpha * (std::exp(-h) - 1.0f);
      return sched::map2(sample, x0, [=](float x, float m) { return c1 * x - c2 * m; });
    }
    const float c1 = t.sigma / s.sigma * std::exp(-h);
    const float c2 = t.alpha * (1.0f - std::exp(-2.0f * h));
    const float c3 = t.sigma * std::sqrt(1.0f - std::exp(-2.0f * h));
    return sched::map3(sample, x0, z, [=](float x, float m, float e) { return c1 * x + c2 * m + c3 * e; });
  }

  Tensor second_order(int i, const Tensor& sample, const Tensor& z) const {
    const sched::AlphaSigma t = sched::alpha_sigma(sigmas_[i + 1]);
    const sched::AlphaSigma s0 = sched::alpha_sigma(sigmas_[i]);
    const sched::AlphaSigma s1 = sched::alpha_sigma(sigmas_[i - 1]);
    const Tensor& m0 = outputs_[1];
    const Tensor& m1 = outputs_[0];
    const float h = t.lambda - s0.lambda, h0 = s0.lambda - s1.lambda;
    const float r0 = h0 / h;
    const float inv_r0 = 1.0f / r0;
    Tensor d1 = sched::map2(m0, m1, [inv_r0](float a, float b) { return inv_r0 * (a - b); });
    if (!sde_) {
      const float c1 = t.sigma / s0.sigma, c2 = t.alpha * (std::exp(-h) - 1.0f);
      if (solver_type_ == "midpoint") {
        const float c3 = 0.5f * c2;
        return sched::map3(sample, m0, d1,
                           [=](float x, float a, float d) { return c1 * x - c2 * a - c3 * d; });
      }
      const float c3 = t.alpha * ((std::exp(-h) - 1.0f) / h + 1.0f);
      return sched::map3(sample, m0, d1, [=](float x, float a, float d) { return c1 * x - c2 * a + c3 * d; });
    }
    const float c1 = t.sigma / s0.sigma * std::exp(-h);
    const float c2 = t.alpha * (1.0f - std::exp(-2.0f * h));
    const float cn = t.sigma * std::sqrt(1.0f - std::exp(-2.0f * h));
    const float c3 = solver_type_ == "midpoint"
                         ? 0.5f * c2
                         : t.alpha * ((1.0f - std::exp(-2.0f * h)) / (-2.0f * h) + 1.0f);
    Tensor partial =
        sched::map3(sample, m0, d1, [=](float x, float a, float d) { return c1 * x + c2 * a + c3 * d; });
    return sched::map2(partial, z, [cn](float p, float e) { return p + cn * e; });
  }

  bool sde_ = false;
  std::string solver_type_;
  std::array<Tensor, 2> outputs_;
  int lower_order_nums_ = 0;
};

}  // namespace

std::unique_ptr<Scheduler> make_dpm_multistep(const SchedulerConfig& c) {
  return std::make_unique<DpmSolverMultistep>(c);
}

}  // namespace i2i
