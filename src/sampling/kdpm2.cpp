// KDPM2DiscreteScheduler (A1111 "DPM2") and KDPM2AncestralDiscreteScheduler ("DPM2 a"): order 2; each noise
// level is followed by a midpoint at the geometric mean of two sigmas (its timestep found by interpolating
// the log-sigma table, in float32 as diffusers does with torch tensors).
#include <cmath>
#include <limits>

#include "sampling/k_scheduler.h"
#include "sampling/schedule_math.h"

namespace i2i {

namespace {

// torch.lerp(start, end, 0.5) (the weight >= 0.5 branch).
float lerp_half(float start, float end) {
  return end - (end - start) * (1.0f - 0.5f);
}

// [v0, v1, v1, v2, v2, ..., v_last, v_last, v_last]
std::vector<float> interleave(const std::vector<float>& v) {
  std::vector<float> out = {v[0]};
  for (size_t k = 1; k < v.size(); ++k) out.insert(out.end(), 2, v[k]);
  out.push_back(v.back());
  return out;
}

class Kdpm2Base : public KScheduler {
 public:
  explicit Kdpm2Base(const SchedulerConfig& c) : KScheduler(c, /*f32_linspace=*/true) {}
  int order() const override { return 2; }

 protected:
  bool first_order() const { return !saved_sample_.defined(); }
  void reset_state() {
    saved_sample_ = Tensor();
    reset_stepping();
  }
  std::vector<float> sigmas_interpol_;
  Tensor saved_sample_;
};

class Kdpm2 : public Kdpm2Base {
 public:
  using Kdpm2Base::Kdpm2Base;
  std::string class_name() const override { return "KDPM2DiscreteScheduler"; }

  void set_timesteps(int n) override {
    Base b = base_schedule(n);
    std::vector<float> s = b.sigmas;
    s.push_back(0.0f);
    const size_t m = s.size();
    std::vector<float> si(m);
    for (size_t k = 0; k < m; ++k) {
      const float prev = s[(k + m - 1) % m];  // roll(1)
      si[k] = std::exp(lerp_half(std::log(s[k]), std::log(prev)));
    }
    sigmas_ = interleave(s);
    sigmas_interpol_ = interleave(si);
    timesteps_ = {b.timesteps[0]};
    for (size_t k = 1; k + 1 < m; ++k) {
      timesteps_.push_back(sched::sigma_to_t_f32(si[k], log_sigmas_));
      timesteps_.push_back(b.timesteps[k]);
    }
    num_inference_steps_ = n;
    update_init_noise_sigma();
    reset_state();
  }

  Tensor step(const Tensor& model_output, int i, const Tensor& sample, NoiseSource&) override {
    check_step(i, "DPM2 step");
    sched::check_same_shape(model_output, sample, "DPM2 step");
    if (first_order()) {
      const float sigma_hat = sigmas_[i], sigma_interpol = sigmas_interpol_[i + 1];
      Tensor pred = sched::k_pred_original(config_.prediction_type, sample, model_output, sigma_hat);
      const float dt = sigma_interpol - sigma_hat;
      saved_sample_ = sample;
      return sched::map2(sample, pred, [=](float x, float p) { return x + ((x - p) / sigma_hat) * dt; });
    }
    const float sigma_hat = sigmas_[i - 1], sigma_interpol = sigmas_interpol_[i], sigma_next = sigmas_[i];
    Tensor pred = sched::k_pred_original(config_.prediction_type, sample, model_output, sigma_interpol);
    const float dt = sigma_next - sigma_hat;
    Tensor prev = sched::map3(saved_sample_, sample, pred, [=](float x0, float x, float p) {
      return x0 + ((x - p) / sigma_interpol) * dt;
    });
    saved_sample_ = Tensor();
    return prev;
  }

 protected:
  float input_sigma(int i) const override { return first_order() ? sigmas_[i] : sigmas_interpol_[i]; }
};

class Kdpm2Ancestral : public Kdpm2Base {
 public:
  using Kdpm2Base::Kdpm2Base;
  std::string class_name() const override { return "KDPM2AncestralDiscreteScheduler"; }

  void set_timesteps(int n) override {
    Base b = base_schedule(n);
    std::vector<float> s = b.sigmas;
    s.push_back(0.0f);
    const size_t m = s.size();
    std::vector<float> up(m), down(m), si(m);
    for (size_t k = 0; k < m; ++k) {
      const float next = k + 1 < m ? s[k + 1] : 0.0f;
      const float s2 = s[k] * s[k], n2 = next * next;
      up[k] = std::sqrt(n2 * (s2 - n2) / s2);
      down[k] = std::sqrt(n2 - up[k] * up[k]);
    }
    down[m - 1] = 0.0f;
    for (size_t k = 0; k < m; ++k) si[k] = std::exp(lerp_half(std::log(s[k]), std::log(down[k])));
    si[m - 1] = 0.0f;
    si[m - 2] = 0.0f;
    sigmas_ = interleave(s);
    sigmas_interpol_ = interleave(si);
    sigmas_up_ = interleave(up);
    sigmas_down_ = interleave(down);
    timesteps_ = {b.timesteps[0]};
    for (size_t k = 0; k + 2 < m; ++k) {
      timesteps_.push_back(sched::sigma_to_t_f32(si[k], log_sigmas_));
      timesteps_.push_back(b.timesteps[k + 1]);
    }
    num_inference_steps_ = n;
    update_init_noise_sigma();
    reset_state();
  }

  Tensor step(const Tensor& model_output, int i, const Tensor& sample, NoiseSource& noise) override {
    check_step(i, "DPM2 a step");
    sched::check_same_shape(model_output, sample, "DPM2 a step");
    Tensor e = noise.randn(model_output.shape());  // drawn on every call, used on the second-order ones
    if (first_order()) {
      const float sigma_hat = sigmas_[i], sigma_interpol = sigmas_interpol_[i];
      Tensor pred = sched::k_pred_original(config_.prediction_type, sample, model_output, sigma_hat);
      const float dt = sigma_interpol - sigma_hat;
      saved_sample_ = sample;
      return sched::map2(sample, pred, [=](float x, float p) { return x + ((x - p) / sigma_hat) * dt; });
    }
    const float sigma_hat = sigmas_[i - 1], sigma_interpol = sigmas_interpol_[i - 1];
    const float sigma_up = sigmas_up_[i - 1], sigma_down = sigmas_down_[i - 1];
    Tensor pred = sched::k_pred_original(config_.prediction_type, sample, model_output, sigma_interpol);
    const float dt = sigma_down - sigma_hat;
    Tensor prev = sched::map3(saved_sample_, sample, pred, [=](float x0, float x, float p) {
      return x0 + ((x - p) / sigma_interpol) * dt;
    });
    saved_sample_ = Tensor();
    return sched::map2(prev, e, [sigma_up](float x, float z) { return x + z * sigma_up; });
  }

 protected:
  float input_sigma(int i) const override { return first_order() ? sigmas_[i] : sigmas_interpol_[i - 1]; }

 private:
  std::vector<float> sigmas_up_, sigmas_down_;
};

}  // namespace

std::unique_ptr<Scheduler> make_kdpm2(const SchedulerConfig& c) {
  return std::make_unique<Kdpm2>(c);
}
std::unique_ptr<Scheduler> make_kdpm2_ancestral(const SchedulerConfig& c) {
  return std::make_unique<Kdpm2Ancestral>(c);
}

}  // namespace i2i
