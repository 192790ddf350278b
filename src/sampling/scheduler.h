// Diffusion samplers ("schedulers"), reproducing diffusers 0.27 numerically: DDIM, PLMS (PNDM with
// skip_prk_steps), LMS, Euler, Euler a, Heun, DPM2, DPM2 a, DPM++ 2M (+ Karras, SDE), UniPC, LCM.
//
// Usage (txt2img): set_timesteps(n); x = noise * init_noise_sigma(); for i in [0, timesteps().size()):
//   eps = model(scale_model_input(x, i), timestep(i)); x = step(eps, i, x, noise_source).
// img2img: plan = img2img_timesteps(n, strength); x = add_noise(init, noise, plan.begin_index); then the same
//   loop for i in [plan.begin_index, timesteps().size()).
// Steps must be taken in order (multistep / second-order schedulers keep state between calls). Tensors are
// float32 of any shape; everything is element-wise, so the layout does not matter except for the noise the
// stochastic samplers draw (drawn with the sample's shape from the NoiseSource; see NchwNoiseForNhwc).
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "sampling/noise.h"

namespace i2i {

// A diffusers scheduler config (scheduler_config.json) as data. Unset optionals take the class's default.
struct SchedulerConfig {
  int num_train_timesteps = 1000;
  double beta_start = 0.0001;
  double beta_end = 0.02;
  std::string beta_schedule = "linear";  // linear, scaled_linear, squaredcos_cap_v2
  std::vector<double> trained_betas;     // overrides the schedule when non-empty
  std::optional<bool> set_alpha_to_one;  // DDIM / LCM default true, PNDM false
  int steps_offset = 0;
  std::string prediction_type = "epsilon";      // epsilon, v_prediction, sample
  std::optional<std::string> timestep_spacing;  // leading / linspace / trailing
  bool use_karras_sigmas = false;
  // DDIM
  double eta = 0.0;
  // DPM-Solver++ (DPMSolverMultistepScheduler) and UniPC
  std::string algorithm_type = "dpmsolver++";  // dpmsolver++, sde-dpmsolver++
  int solver_order = 2;
  std::optional<std::string> solver_type;  // DPM: midpoint (default) / heun; UniPC: bh2 (default) / bh1
  bool lower_order_final = true;
  bool euler_at_final = false;
  std::string final_sigmas_type = "zero";  // DPM-Solver: zero / sigma_min
  double lambda_min_clipped = -INFINITY;
  std::vector<int> disable_corrector;  // UniPC
  // LCM
  int original_inference_steps = 50;
  double timestep_scaling = 10.0;
  // Rejected when set (not implemented): thresholding, clip_sample, rescale_betas_zero_snr.
  bool thresholding = false;
  bool clip_sample = false;
  bool rescale_betas_zero_snr = false;
  bool skip_prk_steps = true;  // PNDM: only the PLMS variant (true) is implemented

  // Fills the fields present in a diffusers scheduler_config.json object (unknown keys are ignored, as
  // diffusers does); throws i2i::Error naming `what` on a wrongly typed value.
  static SchedulerConfig from_json(const nlohmann::json& j, const std::string& what = "scheduler config");
  // Throws i2i::Error naming `what` for values no schedule can use (betas not finite or outside (0, 1),
  // a steps_offset outside the training steps); from_json checks them.
  void check_ranges(const std::string& what) const;
  // Applies the keys of `overrides` on top of this config (same keys as from_json).
  void apply(const nlohmann::json& overrides, const std::string& what = "scheduler overrides");
};

// The img2img part of a schedule, as diffusers' StableDiffusionImg2ImgPipeline.get_timesteps returns it.
struct Img2ImgPlan {
  int begin_index = 0;            // index into timesteps() of the first denoising step (t_start * order)
  std::vector<double> timesteps;  // timesteps()[begin_index:]
  int num_inference_steps = 0;    // steps - t_start (as diffusers returns it)
  double latent_timestep = 0;     // timesteps[0], the timestep add_noise uses
};

class Scheduler {
 public:
  explicit Scheduler(SchedulerConfig config);
  virtual ~Scheduler() = default;
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // The diffusers class this reproduces ("EulerDiscreteScheduler", ...).
  virtual std::string class_name() const = 0;
  const SchedulerConfig& config() const { return config_; }
  // The spacing in effect (the config's or the class default).
  const std::string& timestep_spacing() const { return spacing_; }

  // Computes the schedule for `n` inference steps and resets the stepping state.
  virtual void set_timesteps(int n) = 0;
  const std::vector<double>& timesteps() const { return timesteps_; }
  double timestep(int step_index) const;
  // True when diffusers keeps the timesteps as int64 (DDIM, PNDM, DPM-Solver, UniPC, LCM).
  virtual bool integer_timesteps() const { return false; }
  // Noise levels of the schedule (empty for DDIM, PNDM and LCM).
  const std::vector<float>& sigmas() const { return sigmas_; }
  float init_noise_sigma() const { return init_noise_sigma_; }
  // Number of model evaluations per noise level (2 for Heun, DPM2, DPM2 a).
  virtual int order() const { return 1; }
  int num_inference_steps() const { return num_inference_steps_; }

  // The UNet input for step `step_index`.
  virtual Tensor scale_model_input(const Tensor& sample, int step_index);
  // One denoising step; returns the new sample. Draws noise from `noise` exactly when diffusers does.
  virtual Tensor step(const Tensor& model_output, int step_index, const Tensor& sample,
                      NoiseSource& noise) = 0;
  // Noises `original` to the level of timesteps()[step_index] (img2img start).
  virtual Tensor add_noise(const Tensor& original, const Tensor& noise, int step_index) const;

  // set_timesteps(steps), then the img2img window for `strength` in (0, 1] as diffusers' get_timesteps.
  Img2ImgPlan img2img_timesteps(int steps, double strength);

  // Training schedule (float32, as diffusers' torch tensors).
  const std::vector<float>& alphas_cumprod() const { return alphas_cumprod_; }

 protected:
  // Stepping must proceed in order: the first step may start anywhere (img2img), later ones must follow.
  void check_step(int step_index, const char* what);
  void reset_stepping() { next_step_ = -1; }
  float final_alpha_cumprod() const;
  // The sigma of a DDPM-style training step ((1 - a) / a) ** 0.5 in float32.
  std::vector<float> training_sigmas() const;

  SchedulerConfig config_;
  std::string spacing_;
  std::vector<float> alphas_cumprod_;
  std::vector<double> timesteps_;
  std::vector<float> sigmas_;
  float init_noise_sigma_ = 1.0f;
  int num_inference_steps_ = 0;

 private:
  int next_step_ = -1;
};

// Creates a sampler by name: AUTOMATIC1111's names ("DDIM", "PLMS", "LMS", "Euler", "Euler a", "Heun",
// "DPM2", "DPM2 a", "DPM++ 2M", "DPM++ 2M Karras", "DPM++ 2M SDE", "UniPC", "LCM"), case-insensitive, or
// lower-case aliases with underscores (euler_a, dpmpp_2m, dpmpp_2m_karras, dpmpp_2m_sde, dpm2_a, ...), or a
// diffusers class name. `base` is the model's scheduler config (e.g. SD 1.5's); the sampler's own settings
// (algorithm_type, ...) are applied on top. `schedule_type`: "" / "automatic" keeps the sampler's default,
// "karras" uses Karras sigmas (rejected for samplers without sigmas), "normal" / "default" turns them off,
// "trailing" is diffusers' timestep_spacing="trailing" (the SD-Turbo / SDXL-Turbo model cards': the first
// step at t = 999, n steps evenly spaced in 1000 / n; rejected for LCM, which has its own schedule). With a
// Karras sampler ("DPM++ 2M Karras") trailing sets both options as diffusers would: the k-diffusion classes
// (Euler, LMS, Heun, DPM2) interpolate the trailing timesteps' sigmas first, so the Karras ramp ends at the
// trailing schedule's lowest sigma; DPM-Solver and UniPC build Karras sigmas from the whole training range,
// where the spacing changes nothing.
// Unknown names give an i2i::Error listing the valid ones.
std::unique_ptr<Scheduler> make_scheduler(const std::string& name, const SchedulerConfig& base,
                                          const std::string& schedule_type = "");
// The canonical (A1111) name of a sampler given by any accepted name ("euler_a" -> "Euler a"); throws
// i2i::Error listing the valid names for an unknown one.
std::string canonical_sampler_name(const std::string& name);
// The canonical (A1111) sampler names.
std::vector<std::string> sampler_names();

// Direct constructors (diffusers classes).
std::unique_ptr<Scheduler> make_ddim(const SchedulerConfig& c);
std::unique_ptr<Scheduler> make_pndm(const SchedulerConfig& c);
std::unique_ptr<Scheduler> make_lms(const SchedulerConfig& c);
std::unique_ptr<Scheduler> make_euler(const SchedulerConfig& c);
std::unique_ptr<Scheduler> make_euler_ancestral(const SchedulerConfig& c);
std::unique_ptr<Scheduler> make_heun(const SchedulerConfig& c);
std::unique_ptr<Scheduler> make_kdpm2(const SchedulerConfig& c);
std::unique_ptr<Scheduler> make_kdpm2_ancestral(const SchedulerConfig& c);
std::unique_ptr<Scheduler> make_dpm_multistep(const SchedulerConfig& c);
std::unique_ptr<Scheduler> make_unipc(const SchedulerConfig& c);
std::unique_ptr<Scheduler> make_lcm(const SchedulerConfig& c);

}  // namespace i2i
