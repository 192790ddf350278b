// UniPCMultistepScheduler (A1111 "UniPC"): bh2 predictor-corrector in data prediction, order 2 by default
// (the corrector of step i refines the previous step's result with the new model output).
#include <algorithm>
#include <cmath>
#include <deque>

#include "sampling/multistep_common.h"
#include "sampling/schedule_math.h"

namespace i2i {

namespace {

// Solves the small system a x = b in float32 with partial pivoting (torch.linalg.solve via LAPACK sgesv).
std::vector<float> solve(std::vector<std::vector<float>> a, std::vector<float> b) {
  const size_t n = b.size();
  for (size_t col = 0; col < n; ++col) {
    size_t piv = col;
    for (size_t r = col + 1; r < n; ++r)
      if (std::fabs(a[r][col]) > std::fabs(a[piv][col])) piv = r;
    std::swap(a[col], a[piv]);
    std::swap(b[col], b[piv]);
    check(a[col][col] != 0.0f, "UniPC: singular order conditions");
    for (size_t r = col + 1; r < n; ++r) {
      const float f = a[r][col] / a[col][col];
      for (size_t k = col; k < n; ++k) a[r][k] -= f * a[col][k];
      b[r] -= f * b[col];
    }
  }
  std::vector<float> x(n);
  for (size_t r = n; r-- > 0;) {
    float s = b[r];
    for (size_t k = r + 1; k < n; ++k) s -= a[r][k] * x[k];
    x[r] = s / a[r][r];
  }
  return x;
}

class UniPc : public Scheduler {
 public:
  explicit UniPc(const SchedulerConfig& c) : Scheduler(c) {
    spacing_ = config_.timestep_spacing.value_or("linspace");
    solver_type_ = config_.solver_type.value_or("bh2");
    check(solver_type_ == "bh1" || solver_type_ == "bh2", "UniPC: solver_type must be bh1 or bh2");
    check(config_.solver_order >= 1 && config_.solver_order <= 3, "UniPC: solver_order must be 1, 2 or 3");
  }
  std::string class_name() const override { return "UniPCMultistepScheduler"; }
  bool integer_timesteps() const override { return true; }

  void set_timesteps(int n) override {
    sched::MultistepSchedule s = sched::multistep_schedule(config_, spacing_, n, alphas_cumprod_, false);
    timesteps_ = s.timesteps;
    sigmas_ = s.sigmas;
    num_inference_steps_ = static_cast<int>(timesteps_.size());
    init_noise_sigma_ = 1.0f;
    outputs_.assign(static_cast<size_t>(config_.solver_order), Tensor());
    lower_order_nums_ = 0;
    this_order_ = 0;
    last_sample_ = Tensor();
    reset_stepping();
  }

  Tensor add_noise(const Tensor& original, const Tensor& noise, int step_index) const override {
    timestep(step_index);
    const sched::AlphaSigma as = sched::alpha_sigma(sigmas_[step_index]);
    return sched::map2(
        original, noise, [as](float x, float e) { return as.alpha * x + as.sigma * e; }, "add_noise");
  }

  Tensor step(const Tensor& model_output, int i, const Tensor& sample_in, NoiseSource&) override {
    check_step(i, "UniPC step");
    sched::check_same_shape(model_output, sample_in, "UniPC step");
    const bool use_corrector = i > 0 && last_sample_.defined() &&
                               std::find(config_.disable_corrector.begin(), config_.disable_corrector.end(),
                                         i - 1) == config_.disable_corrector.end();
    Tensor x0 = sched::data_prediction(config_.prediction_type, sigmas_[i], sample_in, model_output);
    Tensor sample = sample_in;
    if (use_corrector) sample = corrector(x0, i);
    for (size_t k = 0; k + 1 < outputs_.size(); ++k) outputs_[k] = outputs_[k + 1];
    outputs_.back() = x0;
    const int n = static_cast<int>(timesteps_.size());
    int order = config_.lower_order_final ? std::min(config_.solver_order, n - i) : config_.solver_order;
    this_order_ = std::min(order, lower_order_nums_ + 1);
    last_sample_ = sample;
    Tensor prev = predictor(sample, i, this_order_);
    if (lower_order_nums_ < config_.solver_order) ++lower_order_nums_;
    return prev;
  }

 private:
  // h_phi coefficients b_1..b_order and B_h (data prediction: hh = -h).
  void coefficients(float h, int order, std::vector<float>& b, float& h_phi_1, float& b_h) const {
    const float hh = -h;
    h_phi_1 = std::expm1(hh);
    float h_phi_k = h_phi_1 / hh - 1.0f;
    int factorial = 1;
    b_h = solver_type_ == "bh1" ? hh : std::expm1(hh);
    b.clear();
    for (int k = 1; k <= order; ++k) {
      b.push_back(h_phi_k * static_cast<float>(factorial) / b_h);
      factorial *= k + 1;
      h_phi_k = h_phi_k / hh - 1.0f / static_cast<float>(factorial);
    }
  }

  std::vector<std::vector<float>> r_matrix(const std::vector<float>& rks, int order) const {
    std::vector<std::vector<float>> r;
    for (int k = 1; k <= order; ++k) {
      std::vector<float> row;
      for (float v : rks) row.push_back(std::pow(v, static_cast<float>(k - 1)));
      r.push_back(row);
    }
    return r;
  }

  Tensor predictor(const Tensor& x, int i, int order) const {
    const Tensor& m0 = outputs_.back();
    const sched::AlphaSigma t = sched::alpha_sigma(sigmas_[i + 1]);
    const sched::AlphaSigma s0 = sched::alpha_sigma(sigmas_[i]);
    const float h = t.lambda - s0.lambda;
    std::vector<float> rks;
    std::vector<Tensor> d1s;
    for (int k = 1; k < order; ++k) {
      const sched::AlphaSigma si = sched::alpha_sigma(sigmas_[i - k]);
      const float rk = (si.lambda - s0.lambda) / h;
      rks.push_back(rk);
      const Tensor& mi = outputs_[outputs_.size() - 1 - k];
      d1s.push_back(sched::map2(mi, m0, [rk](float a, float b) { return (a - b) / rk; }));
    }
    rks.push_back(1.0f);
    std::vector<float> b;
    float h_phi_1 = 0, b_h = 0;
    coefficients(h, order, b, h_phi_1, b_h);
    std::vector<float> rhos;
    if (!d1s.empty()) {
      if (order == 2) {
        rhos = {0.5f};
      } else {
        auto r = r_matrix(rks, order);
        std::vector<std::vector<float>> sub(r.begin(), r.end() - 1);
        for (auto& row : sub) row.pop_back();
        rhos = solve(sub, std::vector<float>(b.begin(), b.end() - 1));
      }
    }
    const float c1 = t.sigma / s0.sigma, c2 = t.alpha * h_phi_1, c3 = t.alpha * b_h;
    Tensor x_t = sched::map2(x, m0, [=](float xv, float m) { return c1 * xv - c2 * m; });
    if (d1s.empty()) return x_t;
    Tensor res = weighted_sum(rhos, d1s);
    return sched::map2(x_t, res, [c3](float a, float r) { return a - c3 * r; });
  }

  Tensor corrector(const Tensor& model_t, int i) const {
    const int order = this_order_;
    const Tensor& m0 = outputs_.back();
    const Tensor& x = last_sample_;
    const sched::AlphaSigma t = sched::alpha_sigma(sigmas_[i]);
    const sched::AlphaSigma s0 = sched::alpha_sigma(sigmas_[i - 1]);
    const float h = t.lambda - s0.lambda;
    std::vector<float> rks;
    std::vector<Tensor> d1s;
    for (int k = 1; k < order; ++k) {
      const sched::AlphaSigma si = sched::alpha_sigma(sigmas_[i - (k + 1)]);
      const float rk = (si.lambda - s0.lambda) / h;
      rks.push_back(rk);
      const Tensor& mi = outputs_[outputs_.size() - 1 - k];
      d1s.push_back(sched::map2(mi, m0, [rk](float a, float b) { return (a - b) / rk; }));
    }
    rks.push_back(1.0f);
    std::vector<float> b;
    float h_phi_1 = 0, b_h = 0;
    coefficients(h, order, b, h_phi_1, b_h);
    std::vector<float> rhos = order == 1 ? std::vector<float>{0.5f} : solve(r_matrix(rks, order), b);
    const float c1 = t.sigma / s0.sigma, c2 = t.alpha * h_phi_1, c3 = t.alpha * b_h;
    Tensor x_t = sched::map2(x, m0, [=](float xv, float m) { return c1 * xv - c2 * m; });
    const float rho_last = rhos.back();
    Tensor corr;
    if (!d1s.empty()) corr = weighted_sum(std::vector<float>(rhos.begin(), rhos.end() - 1), d1s);
    Tensor d1_t = sched::map2(model_t, m0, [](float a, float b) { return a - b; });
    if (corr.defined()) {
      return sched::map3(x_t, corr, d1_t,
                         [=](float a, float cr, float d) { return a - c3 * (cr + rho_last * d); });
    }
    // corr_res = 0 (a Python int): 0 + rho * D1_t
    return sched::map2(x_t, d1_t, [=](float a, float d) { return a - c3 * (0.0f + rho_last * d); });
  }

  // einsum("k,bkc...->bc...", rhos, stack(d1s, dim=1)) for one batch layout: sum_k rhos[k] * d1s[k].
  static Tensor weighted_sum(const std::vector<float>& rhos, const std::vector<Tensor>& d1s) {
    Tensor acc = sched::map1(d1s[0], [r = rhos[0]](float v) { return r * v; });
    for (size_t k = 1; k < d1s.size(); ++k)
      acc = sched::map2(acc, d1s[k], [r = rhos[k]](float a, float v) { return a + r * v; });
    return acc;
  }

  std::string solver_type_;
  std::vector<Tensor> outputs_;
  int lower_order_nums_ = 0;
  int this_order_ = 0;
  Tensor last_sample_;
};

}  // namespace

std::unique_ptr<Scheduler> make_unipc(const SchedulerConfig& c) {
  return std::make_unique<UniPc>(c);
}

}  // namespace i2i
