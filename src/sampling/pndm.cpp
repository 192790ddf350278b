// PNDMScheduler with skip_prk_steps (A1111 "PLMS"): pseudo linear multistep on up to 4 past model outputs.
// The schedule repeats its second timestep; the second step re-does the first one with the averaged output.
#include <cmath>
#include <deque>

#include "sampling/schedule_math.h"
#include "sampling/scheduler.h"

namespace i2i {

namespace {

class Pndm : public Scheduler {
 public:
  explicit Pndm(const SchedulerConfig& c) : Scheduler(c) {
    check(config_.skip_prk_steps, "PNDM: skip_prk_steps false (Runge-Kutta warm-up) is not supported");
    spacing_ = config_.timestep_spacing.value_or("leading");
  }
  std::string class_name() const override { return "PNDMScheduler"; }
  bool integer_timesteps() const override { return true; }

  void set_timesteps(int n) override {
    const int T = config_.num_train_timesteps;
    check(n >= 1 && n <= T, "set_timesteps: the number of steps must be in [1, " + std::to_string(T) + "]");
    std::vector<double> base;  // ascending
    if (spacing_ == "linspace") {
      for (double v : sched::np_linspace(0, T - 1, n)) base.push_back(sched::np_round(v));
    } else if (spacing_ == "leading") {
      const int ratio = T / n;
      for (int i = 0; i < n; ++i) base.push_back(static_cast<double>(i) * ratio + config_.steps_offset);
    } else if (spacing_ == "trailing") {
      std::vector<double> a = sched::np_arange(T, 0, -static_cast<double>(T) / n);
      for (auto it = a.rbegin(); it != a.rend(); ++it) base.push_back(sched::np_round(*it) - 1);
    } else {
      throw Error("PNDM: unknown timestep_spacing '" + spacing_ + "'");
    }
    // plms = concat(base[:-1], base[-2:-1], base[-1:])[::-1]
    std::vector<double> plms(base.begin(), base.end() - 1);
    if (base.size() >= 2) plms.push_back(base[base.size() - 2]);
    plms.push_back(base.back());
    timesteps_.assign(plms.rbegin(), plms.rend());
    num_inference_steps_ = n;
    ets_.clear();
    counter_ = 0;
    cur_sample_ = Tensor();
    reset_stepping();
  }

  Tensor step(const Tensor& model_output, int i, const Tensor& sample_in, NoiseSource&) override {
    check_step(i, "PLMS step");
    sched::check_same_shape(model_output, sample_in, "PLMS step");
    const int ratio = config_.num_train_timesteps / num_inference_steps_;
    int t = static_cast<int>(timesteps_[i]);
    int prev_t = t - ratio;
    if (counter_ != 1) {
      while (ets_.size() > 3) ets_.pop_front();
      ets_.push_back(model_output);
    } else {
      prev_t = t;
      t = t + ratio;
    }
    Tensor sample = sample_in;
    Tensor m;
    const size_t n = ets_.size();
    if (n == 1 && counter_ == 0) {
      m = model_output;
      cur_sample_ = sample;
    } else if (n == 1 && counter_ == 1) {
      m = sched::map2(model_output, ets_.back(), [](float a, float b) { return (a + b) / 2; });
      sample = cur_sample_;
      cur_sample_ = Tensor();
    } else if (n == 2) {
      m = sched::map2(ets_[1], ets_[0], [](float e1, float e2) { return (3 * e1 - e2) / 2; });
    } else if (n == 3) {
      m = sched::map3(ets_[2], ets_[1], ets_[0],
                      [](float e1, float e2, float e3) { return (23 * e1 - 16 * e2 + 5 * e3) / 12; });
    } else {
      const float c = static_cast<float>(1.0 / 24.0);
      Tensor a = sched::map3(ets_[3], ets_[2], ets_[1],
                             [](float e1, float e2, float e3) { return 55 * e1 - 59 * e2 + 37 * e3; });
      m = sched::map2(a, ets_[0], [c](float s, float e4) { return c * (s - 9 * e4); });
    }
    ++counter_;
    return prev_sample(sample, t, prev_t, m);
  }

 private:
  Tensor prev_sample(const Tensor& sample, int t, int prev_t, Tensor m) const {
    const float a = alphas_cumprod_[t];
    const float a_prev = prev_t >= 0 ? alphas_cumprod_[prev_t] : final_alpha_cumprod();
    const float b = 1.0f - a, b_prev = 1.0f - a_prev;
    if (config_.prediction_type == "v_prediction") {
      const float sa = std::sqrt(a), sb = std::sqrt(b);
      m = sched::map2(m, sample, [=](float v, float x) { return sa * v + sb * x; });
    } else {
      check(config_.prediction_type == "epsilon", "PLMS: prediction_type must be epsilon or v_prediction");
    }
    const float sample_coeff = std::sqrt(a_prev / a);
    const float denom = a * std::sqrt(b_prev) + std::sqrt(a * b * a_prev);
    const float diff = a_prev - a;
    return sched::map2(sample, m, [=](float x, float e) { return sample_coeff * x - diff * e / denom; });
  }

  std::deque<Tensor> ets_;
  int counter_ = 0;
  Tensor cur_sample_;
};

}  // namespace

std::unique_ptr<Scheduler> make_pndm(const SchedulerConfig& c) {
  return std::make_unique<Pndm>(c);
}

}  // namespace i2i
