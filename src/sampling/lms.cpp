// LMSDiscreteScheduler (A1111 "LMS"): linear multistep of order up to 4 on the sigma schedule; the
// coefficients integrate the Lagrange basis polynomials over [sigma_i, sigma_{i+1}].
#include <cmath>
#include <deque>

#include "sampling/k_scheduler.h"
#include "sampling/schedule_math.h"

namespace i2i {

namespace {

class Lms : public KScheduler {
 public:
  explicit Lms(const SchedulerConfig& c) : KScheduler(c, /*f32_linspace=*/false) {}
  std::string class_name() const override { return "LMSDiscreteScheduler"; }

  void set_timesteps(int n) override {
    use_sigma_schedule(n);
    derivatives_.clear();
    reset_stepping();
  }

  Tensor step(const Tensor& model_output, int i, const Tensor& sample, NoiseSource&) override {
    check_step(i, "LMS step");
    sched::check_same_shape(model_output, sample, "LMS step");
    const float sigma = sigmas_[i];
    Tensor pred = sched::k_pred_original(config_.prediction_type, sample, model_output, sigma);
    derivatives_.push_back(sched::map2(sample, pred, [sigma](float x, float p) { return (x - p) / sigma; }));
    if (derivatives_.size() > kMaxOrder) derivatives_.pop_front();
    const int order = std::min(i + 1, kMaxOrder);
    // zip(coefficients, reversed(derivatives)) stops at the shorter list (img2img starts mid-schedule).
    const int terms = std::min(order, static_cast<int>(derivatives_.size()));
    Tensor acc;
    for (int k = 0; k < terms; ++k) {
      const float coeff = static_cast<float>(lms_coefficient(order, i, k));
      const Tensor& d = derivatives_[derivatives_.size() - 1 - k];
      if (k == 0) {
        acc = sched::map1(d, [coeff](float v) { return coeff * v; });
      } else {
        acc = sched::map2(acc, d, [coeff](float a, float v) { return a + coeff * v; });
      }
    }
    return sched::map2(sample, acc, [](float x, float a) { return x + a; });
  }

 private:
  static constexpr int kMaxOrder = 4;

  // Integral over [sigma_t, sigma_{t+1}] of the Lagrange basis polynomial of node t - current over the
  // nodes t, t-1, ..., t-order+1 (diffusers integrates it with scipy's quad, exact for polynomials).
  double lms_coefficient(int order, int t, int current) const {
    auto basis = [&](double tau) {
      double prod = 1.0;
      for (int k = 0; k < order; ++k) {
        if (k == current) continue;
        prod *= (tau - sigmas_[t - k]) / (static_cast<double>(sigmas_[t - current]) - sigmas_[t - k]);
      }
      return prod;
    };
    // 4-point Gauss-Legendre: exact for the degree <= 3 polynomials here.
    static const double x[4] = {-0.8611363115940526, -0.3399810435848563, 0.3399810435848563,
                                0.8611363115940526};
    static const double w[4] = {0.3478548451374538, 0.6521451548625461, 0.6521451548625461,
                                0.3478548451374538};
    const double a = sigmas_[t], b = sigmas_[t + 1];
    const double half = (b - a) / 2, mid = (a + b) / 2;
    double sum = 0;
    for (int q = 0; q < 4; ++q) sum += w[q] * basis(mid + half * x[q]);
    return sum * half;
  }

  std::deque<Tensor> derivatives_;
};

}  // namespace

std::unique_ptr<Scheduler> make_lms(const SchedulerConfig& c) {
  return std::make_unique<Lms>(c);
}

}  // namespace i2i
