// The start-up cost breakdown (issue 20): core/phase_timer.h accumulates seconds per (component, phase) only
// when enabled; the layers report reading / conversion, reorders and primitive creation; `i2i img2img
// --verbose` prints one line per phase and the run's wall time.
#include "core/phase_timer.h"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "kernels/conv2d.h"
#include "kernels/linear.h"
#include "support/fixtures.h"
#include "tools/bench.h"

namespace i2i {
namespace {
namespace fs = std::filesystem;

const phase_timer::Entry* find(const std::vector<phase_timer::Entry>& v, const std::string& component,
                               const std::string& phase) {
  for (const auto& e : v)
    if (e.component == component && e.phase == phase) return &e;
  return nullptr;
}

// Leaves the process-wide timer off and empty for the next test.
struct TimerGuard {
  ~TimerGuard() {
    phase_timer::enable(false);
    phase_timer::reset();
  }
};

TEST(PhaseTimer, DisabledRecordsNothing) {
  TimerGuard guard;
  phase_timer::reset();
  phase_timer::enable(false);
  {
    phase_timer::ComponentScope c("unet");
    phase_timer::Scope s("reorder");
    phase_timer::add("read_convert", 1.0);
  }
  EXPECT_TRUE(phase_timer::snapshot().empty());
}

TEST(PhaseTimer, SumsPerComponentAndPhaseInFirstReportOrder) {
  TimerGuard guard;
  phase_timer::reset();
  phase_timer::enable(true);
  phase_timer::add("open", 0.5);  // no component: "other"
  {
    phase_timer::ComponentScope c("unet");
    phase_timer::add("reorder", 1.0);
    {
      phase_timer::ComponentScope inner("vae");
      phase_timer::add("reorder", 0.25);
    }
    phase_timer::add("reorder", 2.0);  // back to "unet"
  }
  const auto v = phase_timer::snapshot();
  ASSERT_EQ(v.size(), 3u);
  EXPECT_EQ(v[0].component, "other");
  EXPECT_EQ(v[0].phase, "open");
  EXPECT_EQ(v[1].component, "unet");
  EXPECT_DOUBLE_EQ(v[1].seconds, 3.0);
  EXPECT_EQ(v[1].count, 2);
  EXPECT_EQ(v[2].component, "vae");
  EXPECT_EQ(v[2].count, 1);
  const std::string text = phase_timer::format(v, "> ");
  EXPECT_NE(text.find("> unet          reorder          3.000 s (2)\n"), std::string::npos) << text;
  phase_timer::reset();
  EXPECT_TRUE(phase_timer::snapshot().empty());
}

TEST(PhaseTimer, ScopeMeasuresItsLifetime) {
  TimerGuard guard;
  phase_timer::reset();
  phase_timer::enable(true);
  {
    phase_timer::Scope s("sleep");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const auto v = phase_timer::snapshot();
  ASSERT_EQ(v.size(), 1u);
  EXPECT_GE(v[0].seconds, 0.019);
  EXPECT_LT(v[0].seconds, 5.0);
}

// Building layers from fp16 weights reports the conversion, the reorder and the primitive descriptor under
// the component in scope; the first forward at a new shape reports its primitive creation.
TEST(PhaseTimer, LayersReportTheirPreparation) {
  TimerGuard guard;
  phase_timer::reset();
  phase_timer::enable(true);
  phase_timer::ComponentScope c("test_model");
  Tensor w = Tensor::zeros({64, 32}, DType::F16);
  Linear lin(w, Tensor(), Precision::F32);
  Tensor cw = Tensor::zeros({8, 4, 3, 3}, DType::F16);
  Conv2d conv(cw, Tensor(), 1, 1, Precision::F32);
  auto v = phase_timer::snapshot();
  ASSERT_NE(find(v, "test_model", "read_convert"), nullptr);
  EXPECT_EQ(find(v, "test_model", "read_convert")->count, 2);
  ASSERT_NE(find(v, "test_model", "reorder"), nullptr);
  EXPECT_GE(find(v, "test_model", "reorder")->count, 2);
  ASSERT_NE(find(v, "test_model", "primitive"), nullptr);
  const long before = find(v, "test_model", "primitive")->count;
  lin(Tensor::zeros({3, 32}));
  v = phase_timer::snapshot();
  EXPECT_GT(find(v, "test_model", "primitive")->count, before);
}

// `i2i bench` reports the load breakdown and each stage's first-call overhead (first call minus the median,
// with the phases inside the first call), in text and in JSON.
TEST(PhaseTimerBench, ReportsLoadAndFirstStepOverhead) {
  bench::BenchReport r;
  r.cpu = "test cpu";
  r.threads = 2;
  r.load["bf16"].seconds = 1.5;
  r.load["bf16"].cpu_seconds = 2.5;
  r.load["bf16"].phases = {{"unet", "reorder", 0.75, 282}};
  bench::StageResult st;
  st.seconds = 3.0;
  st.first_seconds = 3.25;
  st.first_phases = {{"unet", "primitive", 0.125, 126}};
  r.stages["unet_cfg_step"]["bf16"] = st;
  const std::string text = bench::report_text(r);
  EXPECT_NE(text.find("load bf16: 1.500 s wall, 2.500 s cpu\n"), std::string::npos) << text;
  EXPECT_NE(text.find("  unet          reorder          0.750 s (282)\n"), std::string::npos) << text;
  EXPECT_NE(
      text.find("first_step_overhead unet_cfg_step bf16: 0.250 s (first call 3.250 s, median 3.000 s)\n"),
      std::string::npos)
      << text;
  const auto j = nlohmann::json::parse(bench::report_json(r));
  EXPECT_DOUBLE_EQ(j["load"]["bf16"]["seconds"].get<double>(), 1.5);
  EXPECT_EQ(j["load"]["bf16"]["phases"][0]["phase"], "reorder");
  EXPECT_EQ(j["load"]["bf16"]["phases"][0]["count"], 282);
  EXPECT_DOUBLE_EQ(j["first_step_overhead"]["unet_cfg_step"]["bf16"]["seconds"].get<double>(), 0.25);
  EXPECT_EQ(j["first_step_overhead"]["unet_cfg_step"]["bf16"]["phases"][0]["component"], "unet");
}

std::string quote(const std::string& s) {
  std::string q = "'";
  for (char ch : s) q += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
  return q + "'";
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(PhaseTimerCli, VerbosePrintsOneLinePerPhase) {
  const fs::path fx = test::fixtures_dir();
  const fs::path dir = test::temp_dir("verbose");
  std::string cmd = "cd ";
  cmd += quote(dir.string());
  cmd += " && ";
  cmd += quote(I2I_BINARY);
  for (const std::string& a : {std::string("img2img"),
                               std::string("--model"),
                               (fx / "models/tiny-sd15.fp16.safetensors").string(),
                               std::string("--tokenizer"),
                               (fx / "tokenizer").string(),
                               std::string("--init"),
                               (fx / "cases/inputs/astronaut_64.png").string(),
                               std::string("--prompt"),
                               std::string("a horse"),
                               std::string("--steps"),
                               std::string("4"),
                               std::string("--strength"),
                               std::string("0.5"),
                               std::string("--seed"),
                               std::string("3"),
                               std::string("--quiet"),
                               std::string("--verbose"),
                               std::string("--overwrite"),
                               std::string("-o"),
                               std::string("out.png")}) {
    cmd += ' ';
    cmd += quote(a);
  }
  cmd += " >out.txt 2>err.txt";
  const int s = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(s) && WEXITSTATUS(s) == 0) << slurp(dir / "err.txt");
  const std::string err = slurp(dir / "err.txt");
  for (const char* line :
       {"i2i img2img: phase text_encoder  load", "i2i img2img: phase unet          read_convert",
        "i2i img2img: phase unet          reorder", "i2i img2img: phase unet          primitive",
        "i2i img2img: phase vae           load", "i2i img2img: phase text_encoder  forward",
        "i2i img2img: phase vae           encode", "i2i img2img: phase unet          forward",
        "i2i img2img: phase vae           decode", "i2i img2img: model load "})
    EXPECT_NE(err.find(line), std::string::npos) << "no '" << line << "' in:\n" << err;
  // 4 steps at strength 0.5: 2 denoising steps, each one CFG batch through the UNet.
  EXPECT_NE(err.find("unet          forward"), std::string::npos);
  const size_t at = err.find("phase unet          forward");
  ASSERT_NE(at, std::string::npos);
  const std::string rest = err.substr(at, err.find('\n', at) - at);
  EXPECT_NE(rest.find("(2)"), std::string::npos) << rest;
  // Without --verbose: no phase lines.
  const std::string quiet_cmd =
      cmd.substr(0, cmd.find(" '--verbose'")) + cmd.substr(cmd.find(" '--verbose'") + 12);
  ASSERT_EQ(std::system(quiet_cmd.c_str()), 0) << slurp(dir / "err.txt");
  EXPECT_EQ(slurp(dir / "err.txt").find("phase"), std::string::npos) << slurp(dir / "err.txt");
}

}  // namespace
}  // namespace i2i
