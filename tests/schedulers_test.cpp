// Samplers vs the fixtures' `schedulers` group (diffusers 0.27.2, float32): schedules for 1/4/10/20 steps,
// 10-step trajectories driven by the fake model with the seeded torch generator, and img2img windows.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>

#include "core/error.h"
#include "io/python_json.h"
#include "sampling/rng_torch.h"
#include "sampling/scheduler.h"
#include "support/fixtures.h"
#include "support/pipeline_cases.h"

namespace i2i {
namespace {

using test::all_close;
using test::cases_json;
using test::ref_tensor;

const char* kGroup = "schedulers";

// Sigmas derive from alphas_cumprod, a running float32 product over 1000 training steps; its last values
// drift by up to ~2 ulp with the accumulation details of torch's linspace/cumprod (14.6146469 vs 14.6146450
// for sigma_max). Allow 4 float32 ulp (relative 2^-22 ~ 2.4e-7... rounded up to 5e-7).
constexpr double kSigmaRelTol = 5e-7;

SchedulerConfig sd15_config() {
  std::ifstream in(test::fixtures_dir() / "models" / "tiny-sd15" / "scheduler" / "scheduler_config.json");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return SchedulerConfig::from_json(parse_python_json(text, "scheduler_config.json"));
}

// The case's scheduler, built as the fixtures were: SD 1.5's config + the case's overrides, by sampler name.
std::unique_ptr<Scheduler> make_case_scheduler(const nlohmann::json& c) {
  SchedulerConfig cfg = sd15_config();
  cfg.apply(c["from_config"]["overrides"]);
  return make_scheduler(c["sampler"].get<std::string>(), cfg);
}

Tensor f32(const nlohmann::json& ref) {
  return ref_tensor(kGroup, ref).to(DType::F32);
}

std::vector<double> as_doubles(const Tensor& t) {
  std::vector<double> v;
  if (t.dtype() == DType::I64) {
    for (int64_t i = 0; i < t.numel(); ++i) v.push_back(static_cast<double>(t.data<int64_t>()[i]));
  } else {
    for (float x : t.to_vector()) v.push_back(x);
  }
  return v;
}

// The fixtures' fake UNet: tanh(x) * (t / 1000) + 0.1 in float32.
Tensor fake_model(const Tensor& x, double t) {
  const float scale = static_cast<float>(t) / 1000.0f;
  Tensor out = Tensor::empty(x.shape());
  for (int64_t i = 0; i < x.numel(); ++i) out.data<float>()[i] = std::tanh(x.data<float>()[i]) * scale + 0.1f;
  return out;
}

// Timesteps are compared exactly, except the midpoints DPM2 / DPM2 a insert at odd indices (the schedules,
// and img2img windows starting at even indices): diffusers finds those by interpolating float32 log-sigmas,
// where a 1-ulp difference in a log moves t by up to ~1e-4; allow 1e-3 (a sixteenth of t's float32 ulp at
// 1000 is 6e-5, so this is ~16 ulp, far below the 1-timestep granularity that would indicate a bug).
double timestep_tol(const nlohmann::json& c, size_t index) {
  const std::string cls = c["class"];
  const bool midpoint =
      (cls == "KDPM2DiscreteScheduler" || cls == "KDPM2AncestralDiscreteScheduler") && index % 2 == 1;
  return midpoint ? 1e-3 : 0.0;
}

// Fails any draw (deterministic schedulers must not draw).
class NoNoise : public NoiseSource {
 public:
  Tensor randn(const Shape&) override { throw Error("unexpected noise draw"); }
};

class SchedulerCase : public ::testing::TestWithParam<std::string> {
 protected:
  const nlohmann::json& c() const { return test::find_case(kGroup, GetParam()); }
};

TEST_P(SchedulerCase, ClassAndConfig) {
  auto s = make_case_scheduler(c());
  EXPECT_EQ(s->class_name(), c()["class"].get<std::string>());
  EXPECT_EQ(s->order(), c()["order"].get<int>());
  EXPECT_EQ(s->timestep_spacing(), c()["resolved_config"]["timestep_spacing"].get<std::string>());
}

TEST_P(SchedulerCase, SetTimesteps) {
  auto s = make_case_scheduler(c());
  for (const auto& [n, e] : c()["set_timesteps"].items()) {
    s->set_timesteps(std::stoi(n));
    std::vector<double> want = as_doubles(ref_tensor(kGroup, e["timesteps"]));
    ASSERT_EQ(s->timesteps().size(), want.size()) << "N=" << n;
    const bool integer = ref_tensor(kGroup, e["timesteps"]).dtype() == DType::I64;
    EXPECT_EQ(s->integer_timesteps(), integer) << "N=" << n;
    for (size_t i = 0; i < want.size(); ++i)
      EXPECT_NEAR(s->timesteps()[i], want[i], timestep_tol(c(), i)) << "N=" << n << " index " << i;
    if (e.contains("sigmas") && !e["sigmas"].is_null()) {
      Tensor want_s = f32(e["sigmas"]);
      ASSERT_EQ(static_cast<int64_t>(s->sigmas().size()), want_s.numel()) << "N=" << n;
      for (int64_t i = 0; i < want_s.numel(); ++i)
        EXPECT_NEAR(s->sigmas()[i], want_s.data<float>()[i],
                    kSigmaRelTol * std::fabs(want_s.data<float>()[i]))
            << "sigmas N=" << n << " index " << i;
    }
    EXPECT_NEAR(s->init_noise_sigma(), e["init_noise_sigma"].get<double>(),
                kSigmaRelTol * e["init_noise_sigma"].get<double>())
        << "N=" << n;
  }
}

TEST_P(SchedulerCase, Trajectory) {
  const auto& t = c()["trajectory"];
  auto s = make_case_scheduler(c());
  s->set_timesteps(t["num_inference_steps"].get<int>());
  std::vector<double> want_ts = as_doubles(ref_tensor(kGroup, t["timesteps"]));
  ASSERT_EQ(s->timesteps().size(), want_ts.size());
  for (size_t i = 0; i < want_ts.size(); ++i)
    EXPECT_NEAR(s->timesteps()[i], want_ts[i], timestep_tol(c(), i));
  Tensor model_inputs = f32(t["model_inputs"]), model_outputs = f32(t["model_outputs"]),
         samples = f32(t["samples"]);
  const float sigma0 = static_cast<float>(t["initial_sample"]["init_noise_sigma"].get<double>());
  EXPECT_NEAR(s->init_noise_sigma(), sigma0, 1e-6 * sigma0);
  double scale = 1.0;
  for (float v : samples.to_vector()) scale = std::max(scale, static_cast<double>(std::fabs(v)));
  Tensor x = f32(t["initial_noise"]).clone();  // the fixture view is read-only
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] *= s->init_noise_sigma();
  // The README measures float32 vs float64 trajectories at up to 3.1e-5 on values up to ~50. This is a second
  // float32 implementation (same operation order, different libm tanh/exp/log and schedule round-off), so it
  // may sit up to that far on the other side of the float64 result: 2 * 3.1e-5, scaled with the values' size.
  const double tol = 2 * 3.1e-5 * std::max(1.0, scale / 50.0);
  EXPECT_TRUE(all_close(x, samples[0], tol, "samples[0]"));
  std::unique_ptr<NoiseSource> gen;
  if (!t["step_generator_seed"].is_null())
    gen = std::make_unique<TorchCpuGenerator>(t["step_generator_seed"].get<uint64_t>());
  NoNoise none;
  test::RecordingNoise rec(gen ? *gen : static_cast<NoiseSource&>(none));
  double worst = 0;
  for (int i = 0; i < static_cast<int>(want_ts.size()); ++i) {
    Tensor in = s->scale_model_input(x, i);
    EXPECT_TRUE(all_close(in, model_inputs[i], tol, "model_inputs[" + std::to_string(i) + "]"));
    Tensor out = fake_model(in, s->timestep(i));
    EXPECT_TRUE(all_close(out, model_outputs[i], tol, "model_outputs[" + std::to_string(i) + "]"));
    x = s->step(out, i, x, rec);
    EXPECT_TRUE(all_close(x, samples[i + 1], tol, "samples[" + std::to_string(i + 1) + "]"));
    worst = std::max(worst, test::max_abs_diff(x, samples[i + 1]).max_abs);
  }
  std::printf("%s: worst sample diff %.3g (scale %.3g, fp64 diff %.3g)\n", GetParam().c_str(), worst, scale,
              t["fp64_final_max_abs_diff"].get<double>());
  const auto& draws = t["step_noise_draws"];
  ASSERT_EQ(rec.draws.size(), draws.size());
  for (size_t k = 0; k < draws.size(); ++k)
    EXPECT_TRUE(all_close(rec.draws[k], f32(draws[k]), 0.0, "step_noise_draws[" + std::to_string(k) + "]"));
}

TEST_P(SchedulerCase, Img2Img) {
  auto s = make_case_scheduler(c());
  for (const auto& [strength, e] : c()["img2img"].items()) {
    Img2ImgPlan plan = s->img2img_timesteps(e["num_inference_steps"].get<int>(), e["strength"].get<double>());
    std::vector<double> want = as_doubles(ref_tensor(kGroup, e["timesteps"]));
    EXPECT_EQ(plan.timesteps.size(), want.size()) << strength;
    for (size_t i = 0; i < want.size() && i < plan.timesteps.size(); ++i)
      EXPECT_NEAR(plan.timesteps[i], want[i], timestep_tol(c(), i)) << strength << " " << i;
    EXPECT_EQ(plan.num_inference_steps, e["num_denoising_steps_returned"].get<int>()) << strength;
    if (!e["begin_index"].is_null()) {
      EXPECT_EQ(plan.begin_index, e["begin_index"].get<int>()) << strength;
    }
    EXPECT_EQ(plan.latent_timestep, e["latent_timestep"].get<double>()) << strength;
    Tensor noisy = s->add_noise(f32(e["init_latents"]), f32(e["noise"]), plan.begin_index);
    Tensor want_noisy = f32(e["noisy_latents"]);
    // One multiply-add of float32 values whose coefficient (sigma or sqrt(alpha_cumprod)) may be off by the
    // schedule's few-ulp drift: relative kSigmaRelTol of the largest value, twice (coefficient and result).
    double peak = 0;
    for (float v : want_noisy.to_vector()) peak = std::max(peak, static_cast<double>(std::fabs(v)));
    EXPECT_TRUE(
        all_close(noisy, want_noisy, 2 * kSigmaRelTol * std::max(1.0, peak), "noisy_latents " + strength));
  }
}

TEST(SchedulerRegistry, NamesAndAliases) {
  SchedulerConfig base = sd15_config();
  struct Want {
    const char* name;
    const char* cls;
  };
  for (Want w : {Want{"DDIM", "DDIMScheduler"},
                 {"plms", "PNDMScheduler"},
                 {"LMS", "LMSDiscreteScheduler"},
                 {"euler", "EulerDiscreteScheduler"},
                 {"Euler a", "EulerAncestralDiscreteScheduler"},
                 {"euler_a", "EulerAncestralDiscreteScheduler"},
                 {"Heun", "HeunDiscreteScheduler"},
                 {"DPM2", "KDPM2DiscreteScheduler"},
                 {"dpm2_a", "KDPM2AncestralDiscreteScheduler"},
                 {"DPM++ 2M", "DPMSolverMultistepScheduler"},
                 {"dpmpp_2m_karras", "DPMSolverMultistepScheduler"},
                 {"dpmpp_2m_sde", "DPMSolverMultistepScheduler"},
                 {"UniPC", "UniPCMultistepScheduler"},
                 {"lcm", "LCMScheduler"}}) {
    EXPECT_EQ(make_scheduler(w.name, base)->class_name(), w.cls) << w.name;
  }
  EXPECT_TRUE(make_scheduler("dpmpp_2m_karras", base)->config().use_karras_sigmas);
  EXPECT_EQ(make_scheduler("DPM++ 2M SDE", base)->config().algorithm_type, "sde-dpmsolver++");
  EXPECT_EQ(sampler_names().size(), 13u);
  try {
    make_scheduler("Euler b", base);
    FAIL() << "unknown sampler accepted";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("Euler b"), std::string::npos) << msg;
    EXPECT_NE(msg.find("\"DPM++ 2M SDE\""), std::string::npos) << msg;
  }
}

TEST(SchedulerRegistry, KarrasScheduleType) {
  SchedulerConfig base = sd15_config();
  // "DPM++ 2M" with the karras schedule type is the fixtures' "DPM++ 2M Karras" case.
  auto s = make_scheduler("DPM++ 2M", base, "karras");
  s->set_timesteps(4);
  const auto& e = test::find_case(kGroup, "DPM++ 2M Karras")["set_timesteps"]["4"];
  std::vector<double> want;
  for (const auto& v : e["timesteps_list"]) want.push_back(v.get<double>());
  EXPECT_EQ(s->timesteps(), want);
  EXPECT_FALSE(make_scheduler("DPM++ 2M Karras", base, "normal")->config().use_karras_sigmas);
  EXPECT_THROW(make_scheduler("DDIM", base, "karras"), Error);
  EXPECT_THROW(make_scheduler("Euler", base, "exponential-ish"), Error);
}

TEST(Scheduler, StepsMustBeInOrder) {
  auto s = make_scheduler("Heun", sd15_config());
  s->set_timesteps(4);
  Tensor x = Tensor::zeros({1, 4, 2, 2});
  NoNoise none;
  s->step(x, 0, x, none);
  EXPECT_THROW(s->step(x, 2, x, none), Error);
  EXPECT_THROW(s->scale_model_input(x, 99), Error);
  EXPECT_THROW(s->step(Tensor::zeros({1, 4, 2, 3}), 1, x, none), Error);
}

TEST(Scheduler, ReplayedNoiseGivesTheSameTrajectory) {
  // Euler a on the fixture noise replayed equals the seeded generator's run (same draws, same order).
  const auto& t = test::find_case(kGroup, "Euler a")["trajectory"];
  std::vector<Tensor> noises;
  for (const auto& d : t["step_noise_draws"]) noises.push_back(f32(d));
  ReplayNoise replay(noises);
  TorchCpuGenerator gen(t["step_generator_seed"].get<uint64_t>());
  auto a = make_scheduler("Euler a", sd15_config());
  auto b = make_scheduler("Euler a", sd15_config());
  a->set_timesteps(10);
  b->set_timesteps(10);
  Tensor xa = f32(t["initial_noise"]).clone(), xb = xa.clone();
  for (int i = 0; i < 10; ++i) {
    xa = a->step(fake_model(a->scale_model_input(xa, i), a->timestep(i)), i, xa, replay);
    xb = b->step(fake_model(b->scale_model_input(xb, i), b->timestep(i)), i, xb, gen);
  }
  EXPECT_TRUE(all_close(xa, xb, 0.0, "replayed vs generated"));
  EXPECT_EQ(replay.remaining(), 0u);
}

TEST(SchedulerConfig, FromJsonAndErrors) {
  nlohmann::json j = parse_python_json(R"({"beta_schedule": "scaled_linear", "lambda_min_clipped": -Infinity,
      "solver_order": 2, "_class_name": "X"})",
                                       "test");
  SchedulerConfig c = SchedulerConfig::from_json(j);
  EXPECT_EQ(c.beta_schedule, "scaled_linear");
  EXPECT_TRUE(std::isinf(c.lambda_min_clipped) && c.lambda_min_clipped < 0);
  EXPECT_THROW(SchedulerConfig::from_json(nlohmann::json{{"steps_offset", "one"}}), Error);
  SchedulerConfig bad = sd15_config();
  bad.beta_schedule = "sigmoid";
  EXPECT_THROW(make_scheduler("Euler", bad), Error);
}

std::vector<std::string> case_ids() {
  std::vector<std::string> ids;
  for (const auto& c : cases_json()["groups"][kGroup]["cases"]) ids.push_back(c["id"].get<std::string>());
  return ids;
}

std::string param_name(const ::testing::TestParamInfo<std::string>& info) {
  std::string s;
  for (char ch : info.param) s += std::isalnum(static_cast<unsigned char>(ch)) ? ch : (ch == '+' ? 'p' : '_');
  return s;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, SchedulerCase, ::testing::ValuesIn(case_ids()), param_name);

}  // namespace
}  // namespace i2i
