#include "sampling/scheduler.h"

#include <cmath>

#include "core/error.h"
#include "io/python_json.h"
#include "sampling/schedule_math.h"

namespace i2i {

namespace {

bool get_bool(const nlohmann::json& v, const std::string& what) {
  check(v.is_boolean(), what + ": expected true or false, got " + json_excerpt(v));
  return v.get<bool>();
}
int get_int(const nlohmann::json& v, const std::string& what) {
  // The range check keeps a hostile 1e300 from an undefined conversion.
  check(v.is_number() && std::floor(v.get<double>()) == v.get<double>() && std::fabs(v.get<double>()) < 2e9,
        what + ": expected an integer, got " + json_excerpt(v));
  return static_cast<int>(v.get<double>());
}
std::string get_string(const nlohmann::json& v, const std::string& what) {
  check(v.is_string(), what + ": expected a string, got " + json_excerpt(v));
  return v.get<std::string>();
}

}  // namespace

SchedulerConfig SchedulerConfig::from_json(const nlohmann::json& j, const std::string& what) {
  SchedulerConfig c;
  c.apply(j, what);
  c.check_ranges(what);
  return c;
}

void SchedulerConfig::check_ranges(const std::string& what) const {
  auto beta_ok = [](double b) { return std::isfinite(b) && b > 0.0 && b < 1.0; };
  check(beta_ok(beta_start) && beta_ok(beta_end),
        what + ": beta_start and beta_end must be finite and between 0 and 1 (exclusive)");
  for (double b : trained_betas)
    check(beta_ok(b), what + ": trained_betas must be finite and between 0 and 1");
  check(num_train_timesteps >= 2 && num_train_timesteps <= 100000,
        what + ": num_train_timesteps must be between 2 and 100000");
  check(steps_offset >= 0 && steps_offset < num_train_timesteps,
        what + ": steps_offset must be between 0 and num_train_timesteps - 1");
}

void SchedulerConfig::apply(const nlohmann::json& j, const std::string& what) {
  check(j.is_object(), what + ": expected a JSON object");
  for (const auto& [key, v] : j.items()) {
    const std::string w = what + ": " + key;
    if (v.is_null()) {
      if (key == "timestep_spacing") timestep_spacing.reset();
      if (key == "solver_type") solver_type.reset();
      if (key == "set_alpha_to_one") set_alpha_to_one.reset();
      if (key == "trained_betas") trained_betas.clear();
      continue;  // diffusers treats null as "use the default"
    }
    if (key == "num_train_timesteps")
      num_train_timesteps = get_int(v, w);
    else if (key == "beta_start")
      beta_start = json_number(v, w);
    else if (key == "beta_end")
      beta_end = json_number(v, w);
    else if (key == "beta_schedule")
      beta_schedule = get_string(v, w);
    else if (key == "trained_betas") {
      check(v.is_array(), w + ": expected a list of numbers");
      trained_betas.clear();
      for (const auto& b : v) trained_betas.push_back(json_number(b, w));
    } else if (key == "set_alpha_to_one")
      set_alpha_to_one = get_bool(v, w);
    else if (key == "steps_offset")
      steps_offset = get_int(v, w);
    else if (key == "prediction_type")
      prediction_type = get_string(v, w);
    else if (key == "timestep_spacing")
      timestep_spacing = get_string(v, w);
    else if (key == "use_karras_sigmas")
      use_karras_sigmas = get_bool(v, w);
    else if (key == "eta")
      eta = json_number(v, w);
    else if (key == "algorithm_type")
      algorithm_type = get_string(v, w);
    else if (key == "solver_order")
      solver_order = get_int(v, w);
    else if (key == "solver_type")
      solver_type = get_string(v, w);
    else if (key == "lower_order_final")
      lower_order_final = get_bool(v, w);
    else if (key == "euler_at_final")
      euler_at_final = get_bool(v, w);
    else if (key == "final_sigmas_type")
      final_sigmas_type = get_string(v, w);
    else if (key == "lambda_min_clipped")
      lambda_min_clipped = json_number(v, w);
    else if (key == "disable_corrector") {
      check(v.is_array(), w + ": expected a list of step indices");
      disable_corrector.clear();
      for (const auto& d : v) disable_corrector.push_back(get_int(d, w));
    } else if (key == "original_inference_steps")
      original_inference_steps = get_int(v, w);
    else if (key == "timestep_scaling")
      timestep_scaling = json_number(v, w);
    else if (key == "thresholding")
      thresholding = get_bool(v, w);
    else if (key == "clip_sample")
      clip_sample = get_bool(v, w);
    else if (key == "rescale_betas_zero_snr")
      rescale_betas_zero_snr = get_bool(v, w);
    else if (key == "skip_prk_steps")
      skip_prk_steps = get_bool(v, w);
    // Options that change the numbers but are not implemented: refuse non-default values rather than
    // silently sampling differently.
    else if (key == "interpolation_type")
      check(get_string(v, w) == "linear", w + ": only \"linear\" is supported");
    else if (key == "timestep_type")
      check(get_string(v, w) == "discrete", w + ": only \"discrete\" is supported");
    else if (key == "use_lu_lambdas")
      check(!get_bool(v, w), w + ": not supported");
  }
}

Scheduler::Scheduler(SchedulerConfig config) : config_(std::move(config)) {
  const SchedulerConfig& c = config_;
  check(c.num_train_timesteps >= 2, "scheduler: num_train_timesteps must be at least 2");
  check(!c.thresholding, "scheduler: thresholding is not supported");
  check(!c.clip_sample, "scheduler: clip_sample is not supported");
  check(!c.rescale_betas_zero_snr, "scheduler: rescale_betas_zero_snr is not supported");
  check(
      c.prediction_type == "epsilon" || c.prediction_type == "v_prediction" || c.prediction_type == "sample",
      "scheduler: unknown prediction_type '" + c.prediction_type + "'");
  const int n = c.num_train_timesteps;
  std::vector<float> betas;
  if (!c.trained_betas.empty()) {
    check(static_cast<int>(c.trained_betas.size()) == n,
          "scheduler: trained_betas has " + std::to_string(c.trained_betas.size()) +
              " values, num_train_timesteps is " + std::to_string(n));
    for (double b : c.trained_betas) betas.push_back(static_cast<float>(b));
  } else if (c.beta_schedule == "linear") {
    betas = sched::torch_linspace_f32(static_cast<float>(c.beta_start), static_cast<float>(c.beta_end), n);
  } else if (c.beta_schedule == "scaled_linear") {
    betas = sched::torch_linspace_f32(static_cast<float>(std::sqrt(c.beta_start)),
                                      static_cast<float>(std::sqrt(c.beta_end)), n);
    for (float& b : betas) b = b * b;
  } else if (c.beta_schedule == "squaredcos_cap_v2") {
    // betas_for_alpha_bar with the cosine alpha_bar, max_beta 0.999 (float64, then float32).
    auto alpha_bar = [](double t) { return std::pow(std::cos((t + 0.008) / 1.008 * M_PI / 2), 2); };
    for (int i = 0; i < n; ++i) {
      const double t1 = static_cast<double>(i) / n, t2 = static_cast<double>(i + 1) / n;
      betas.push_back(static_cast<float>(std::min(1 - alpha_bar(t2) / alpha_bar(t1), 0.999)));
    }
  } else {
    throw Error("scheduler: unknown beta_schedule '" + c.beta_schedule +
                "' (expected linear, scaled_linear or squaredcos_cap_v2)");
  }
  // torch.cumprod on the CPU accumulates float32 products in double.
  alphas_cumprod_.resize(static_cast<size_t>(n));
  double acc = 1.0;
  for (int i = 0; i < n; ++i) {
    acc *= static_cast<double>(1.0f - betas[i]);
    alphas_cumprod_[i] = static_cast<float>(acc);
  }
}

double Scheduler::timestep(int step_index) const {
  check(step_index >= 0 && step_index < static_cast<int>(timesteps_.size()),
        "scheduler: step index " + std::to_string(step_index) + " out of range (schedule has " +
            std::to_string(timesteps_.size()) + " steps)");
  return timesteps_[step_index];
}

void Scheduler::check_step(int step_index, const char* what) {
  check(!timesteps_.empty(), std::string(what) + ": set_timesteps was not called");
  timestep(step_index);
  check(next_step_ < 0 || step_index == next_step_,
        std::string(what) + ": steps must be taken in order (expected step " + std::to_string(next_step_) +
            ", got " + std::to_string(step_index) + ")");
  next_step_ = step_index + 1;
}

float Scheduler::final_alpha_cumprod() const {
  return config_.set_alpha_to_one.value_or(false) ? 1.0f : alphas_cumprod_[0];
}

std::vector<float> Scheduler::training_sigmas() const {
  std::vector<float> s(alphas_cumprod_.size());
  for (size_t i = 0; i < s.size(); ++i) s[i] = std::sqrt((1.0f - alphas_cumprod_[i]) / alphas_cumprod_[i]);
  return s;
}

Tensor Scheduler::scale_model_input(const Tensor& sample, int step_index) {
  timestep(step_index);
  return sample;
}

Tensor Scheduler::add_noise(const Tensor& original, const Tensor& noise, int step_index) const {
  // DDPM-style: sqrt(a) * x + sqrt(1 - a) * noise at the (integer) timestep of this step.
  const double t = timestep(step_index);
  const int ti = static_cast<int>(t);
  check(ti >= 0 && ti < config_.num_train_timesteps, "add_noise: timestep out of range");
  const float a = alphas_cumprod_[ti];
  const float sa = std::sqrt(a), s1a = std::sqrt(1.0f - a);
  return sched::map2(
      original, noise, [=](float x, float e) { return sa * x + s1a * e; }, "add_noise");
}

Img2ImgPlan Scheduler::img2img_timesteps(int steps, double strength) {
  check(steps >= 1, "img2img: steps must be at least 1");
  check(strength > 0 && strength <= 1,
        "img2img: strength must be in (0, 1], got " + std::to_string(strength));
  set_timesteps(steps);
  const int init_timestep = std::min(static_cast<int>(steps * strength), steps);
  const int t_start = std::max(steps - init_timestep, 0);
  Img2ImgPlan plan;
  plan.begin_index = t_start * order();
  check(plan.begin_index < static_cast<int>(timesteps_.size()),
        "img2img: strength " + std::to_string(strength) + " with " + std::to_string(steps) +
            " steps leaves no denoising step");
  plan.timesteps.assign(timesteps_.begin() + plan.begin_index, timesteps_.end());
  plan.num_inference_steps = steps - t_start;
  plan.latent_timestep = plan.timesteps.front();
  return plan;
}

}  // namespace i2i
