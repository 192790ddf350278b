// Model and configuration files: JSON as Python writes it (NaN, Infinity, -Infinity) in a diffusers folder,
// hostile JSON and YAML files (one-line errors naming the file, no crash or hang), and LDM .yaml configs
// read by their nested key paths.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <functional>
#include <random>

#include "core/error.h"
#include "io/config_file.h"
#include "models/checkpoint.h"
#include "models/model_config.h"
#include "pipelines/sd_model.h"
#include "sampling/scheduler.h"
#include "support/fixtures.h"

namespace i2i {
namespace {

namespace fs = std::filesystem;

void write_file(const fs::path& p, const std::string& text) {
  std::ofstream(p, std::ios::binary) << text;
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// `f` throws an i2i::Error whose message is one line, names `file` and contains `needle`.
void expect_file_error(const std::function<void()>& f, const fs::path& file, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << file << " accepted";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(file.string()), std::string::npos) << msg;
    EXPECT_NE(msg.find(needle), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    EXPECT_LT(msg.size(), 600u) << msg;
  }
}

// A copy of the tiny-sd15 diffusers folder: json files copied (writable), everything else symlinked.
fs::path copy_tiny_sd15(const std::string& name) {
  const fs::path src = test::models_dir() / "tiny-sd15";
  const fs::path dst = test::temp_dir(name) / "tiny-sd15";
  for (const auto& e : fs::recursive_directory_iterator(src)) {
    const fs::path to = dst / fs::relative(e.path(), src);
    if (e.is_directory())
      fs::create_directories(to);
    else if (e.path().extension() == ".json")
      write_file(to, read_text(e.path()));
    else
      fs::create_symlink(e.path(), to);
  }
  return dst;
}

// scheduler_config.json as diffusers writes it for DPMSolverMultistepScheduler: Python's json module puts
// the bare tokens -Infinity and NaN where a float is infinite or not a number.
const char* kDpmSchedulerConfig = R"({
  "_class_name": "DPMSolverMultistepScheduler",
  "_diffusers_version": "0.27.2",
  "algorithm_type": "dpmsolver++",
  "beta_end": 0.012,
  "beta_schedule": "scaled_linear",
  "beta_start": 0.00085,
  "dynamic_thresholding_ratio": 0.995,
  "euler_at_final": false,
  "final_sigmas_type": "zero",
  "lambda_min_clipped": -Infinity,
  "lower_order_final": true,
  "num_train_timesteps": 1000,
  "prediction_type": "epsilon",
  "sample_max_value": NaN,
  "set_alpha_to_one": false,
  "solver_order": 2,
  "solver_type": "midpoint",
  "steps_offset": 1,
  "thresholding": false,
  "timestep_spacing": "linspace",
  "trained_betas": null,
  "use_karras_sigmas": false,
  "use_lu_lambdas": false,
  "variance_type": null
})";

TEST(ConfigFiles, DiffusersFolderWithPythonJsonTokensLoads) {
  const fs::path dir = copy_tiny_sd15("config_python_json");
  write_file(dir / "scheduler" / "scheduler_config.json", kDpmSchedulerConfig);
  SdModel model = load_sd_model(dir);
  EXPECT_EQ(model.checkpoint.family, ModelFamily::SD1);
  EXPECT_EQ(model.scheduler_config.at("lambda_min_clipped"), "-Infinity");
  EXPECT_EQ(model.scheduler_config.at("sample_max_value"), "NaN");

  const SchedulerConfig config = SchedulerConfig::from_json(model.scheduler_config, "scheduler_config.json");
  EXPECT_TRUE(std::isinf(config.lambda_min_clipped) && config.lambda_min_clipped < 0);
  // The same schedule as with lambda_min_clipped left at its default (-inf).
  nlohmann::json without = model.scheduler_config;
  without.erase("lambda_min_clipped");
  without.erase("sample_max_value");
  auto a = make_scheduler("DPM++ 2M", config);
  auto b = make_scheduler("DPM++ 2M", SchedulerConfig::from_json(without));
  EXPECT_EQ(a->class_name(), "DPMSolverMultistepScheduler");
  const Img2ImgPlan plan = a->img2img_timesteps(10, 0.6);
  b->set_timesteps(10);
  EXPECT_EQ(plan.begin_index, 4);
  ASSERT_EQ(a->timesteps().size(), 10u);
  EXPECT_EQ(a->timesteps(), b->timesteps());
  EXPECT_EQ(a->sigmas(), b->sigmas());
  // One step from the img2img start, with a zero model output, gives finite numbers.
  Tensor x = Tensor::zeros({1, 4, 2, 2});
  x = a->add_noise(x, Tensor::zeros({1, 4, 2, 2}), plan.begin_index);
  struct NoNoise : NoiseSource {
    Tensor randn(const Shape& shape) override { return Tensor::zeros(shape); }
  } noise;
  Tensor y = a->step(Tensor::zeros({1, 4, 2, 2}), plan.begin_index, a->scale_model_input(x, plan.begin_index),
                     noise);
  for (int64_t i = 0; i < y.numel(); ++i) EXPECT_TRUE(std::isfinite(y.data<float>()[i]));
}

TEST(ConfigFiles, HostileJsonInADiffusersFolderIsNamed) {
  const fs::path dir = copy_tiny_sd15("config_hostile_folder");
  const fs::path unet = dir / "unet" / "config.json";
  write_file(unet, std::string(100000, '['));
  expect_file_error([&] { open_checkpoint(dir); }, unet, "nested deeper than");
  write_file(unet, R"({"in_channels": "nine"})");
  expect_file_error([&] { open_checkpoint(dir); }, unet, "in_channels");
  write_file(unet, R"({"in_channels": 1e300})");
  expect_file_error([&] { open_checkpoint(dir); }, unet, "in_channels");
  const fs::path scheduler = dir / "scheduler" / "scheduler_config.json";
  write_file(unet, read_text(test::models_dir() / "tiny-sd15" / "unet" / "config.json"));
  write_file(scheduler, R"({"prediction_type": "x0"})");
  expect_file_error([&] { open_checkpoint(dir); }, scheduler, "unknown prediction type");
}

TEST(ConfigFiles, HostileJsonFilesGiveOneLineErrors) {
  const fs::path dir = test::temp_dir("config_hostile_json");
  auto rejects = [&](const std::string& name, const std::string& text, const std::string& needle) {
    SCOPED_TRACE(name);
    write_file(dir / name, text);
    expect_file_error([&] { read_config_json(dir / name); }, dir / name, needle);
  };
  rejects("truncated.json", R"({"a": [1, 2, {"b": )", "invalid JSON");
  rejects("deep_arrays.json", std::string(100000, '['), "nested deeper than 256 levels");
  rejects(
      "deep_objects.json",
      [] {
        std::string s;
        for (int i = 0; i < 100000; ++i) s += "{\"a\":";
        return s;
      }(),
      "nested deeper than");
  rejects("huge_number.json", R"({"beta_end": 1e999})", "invalid JSON");
  rejects("array.json", "[1, 2, 3]", "expected a JSON object");
  rejects("empty.json", "", "invalid JSON");
  rejects("nul.json", std::string("{\"a\": \"\0\"}", 10), "NUL byte at offset 7");
  rejects("nul_tail.json", std::string("{\"a\": 1}\0{{{", 12), "NUL byte at offset 8");
  std::mt19937 rng(7);
  std::string garbage(4096, '\0');
  for (char& c : garbage) c = static_cast<char>(rng());
  rejects("garbage.json", garbage, "invalid JSON");
  rejects("unterminated.json", "{\"a\": \"" + std::string(100000, 'x'), "...");
  rejects("too_big.json", "{\"a\": \"" + std::string(kMaxConfigJsonBytes, 'x') + "\"}", "too big");
  fs::create_directories(dir / "folder.json");
  expect_file_error([&] { read_config_json(dir / "folder.json"); }, dir / "folder.json", "is a directory");
  expect_file_error([&] { read_config_json(dir / "missing.json"); }, dir / "missing.json", "cannot open");
  // Nesting up to the limit is fine.
  write_file(dir / "deep_ok.json", "{\"a\":" + std::string(255, '[') + std::string(255, ']') + "}");
  EXPECT_TRUE(read_config_json(dir / "deep_ok.json").is_object());
}

TEST(ConfigFiles, NumbersAsPythonWritesThem) {
  const fs::path dir = test::temp_dir("config_numbers");
  write_file(dir / "c.json",
             R"({"norm_eps": -Infinity, "freq_shift": NaN, "x": "NaN inside a string", "big": 1e300,
                 "list": [1, 2.0, 3], "bad_list": [1, 1e30], "neg": -5, "frac": 2.5})");
  const nlohmann::json j = read_config_json(dir / "c.json");
  const std::string o = (dir / "c.json").string();
  EXPECT_EQ(json_get<float>(j, "norm_eps", 0.f, o), -INFINITY);
  EXPECT_TRUE(std::isnan(json_get<double>(j, "freq_shift", 0.0, o)));
  EXPECT_EQ(json_get<std::string>(j, "x", "", o), "NaN inside a string");
  EXPECT_EQ(json_get<std::vector<int64_t>>(j, "list", {}, o), (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(json_get<int>(j, "neg", 0, o), -5);
  EXPECT_EQ(json_get<int>(j, "absent", 7, o), 7);
  expect_file_error([&] { json_get<int>(j, "big", 0, o); }, o, "'big'");
  expect_file_error([&] { json_get<int64_t>(j, "big", 0, o); }, o, "'big'");
  expect_file_error([&] { json_get<std::vector<int64_t>>(j, "bad_list", {}, o); }, o, "'bad_list'");
  expect_file_error([&] { json_get<int>(j, "frac", 0, o); }, o, "'frac'");
  expect_file_error([&] { json_get<float>(j, "x", 0.f, o); }, o, "'x'");
}

// --- LDM .yaml configs ---

// AUTOMATIC1111's v1-inference.yaml (SD 1.x), with decoys: keys of the same names at other levels and in a
// block string, which a line scan would have taken.
const char* kV1Yaml = R"(model:
  base_learning_rate: 1.0e-04
  target: ldm.models.diffusion.ddpm.LatentDiffusion
  params:
    linear_start: 0.00085
    linear_end: 0.0120
    num_timesteps_cond: 1
    log_every_t: 200
    timesteps: 1000
    first_stage_key: "jpg"
    cond_stage_key: "txt"
    image_size: 64
    channels: 4
    cond_stage_trainable: false   # Note: different from the one we trained before
    conditioning_key: crossattn
    monitor: val/loss_simple_ema
    scale_factor: 0.18215
    use_ema: False

    scheduler_config: # 10000 warmup steps
      target: ldm.lr_scheduler.LambdaLinearScheduler
      params:
        warm_up_steps: [ 10000 ]
        cycle_lengths: [ 10000000000000 ] # incredibly large number to prevent corner cases
        f_start: [ 1.e-6 ]
        f_max: [ 1. ]
        f_min: [ 1. ]
        parameterization: "v"        # decoy: not model.params
        scale_factor: 0.5            # decoy

    unet_config:
      target: ldm.modules.diffusionmodules.openaimodel.UNetModel
      params:
        image_size: 32 # unused
        in_channels: 4
        out_channels: 4
        model_channels: 320
        attention_resolutions: [ 4, 2, 1 ]
        num_res_blocks: 2
        channel_mult: [ 1, 2, 4, 4 ]
        num_heads: 8
        use_spatial_transformer: True
        transformer_depth: 1
        context_dim: 768
        use_checkpoint: True
        legacy: False

    first_stage_config:
      target: ldm.models.autoencoder.AutoencoderKL
      params:
        embed_dim: 4
        monitor: val/rec_loss
        ddconfig:
          double_z: true
          z_channels: 4
          resolution: 256
          in_channels: 3
          out_ch: 3
          ch: 128
          ch_mult:
          - 1
          - 2
          - 4
          - 4
          num_res_blocks: 2
          attn_resolutions: []
          dropout: 0.0
          num_heads: 3                 # decoy
          context_dim: 999             # decoy
        lossconfig:
          target: torch.nn.Identity

    cond_stage_config:
      target: ldm.modules.encoders.modules.FrozenCLIPEmbedder
      params:
        use_linear_in_transformer: True   # decoy
        notes: |
          parameterization: v
          num_head_channels: 64
context_dim: 1024   # decoy at the top level
)";

// AUTOMATIC1111's v2-inference-v.yaml (SD 2.x, v-prediction).
const char* kV2VYaml = R"(model:
  base_learning_rate: 1.0e-4
  target: ldm.models.diffusion.ddpm.LatentDiffusion
  params:
    parameterization: "v"
    linear_start: 0.00085
    linear_end: 0.0120
    num_timesteps_cond: 1
    log_every_t: 200
    timesteps: 1000
    first_stage_key: "jpg"
    cond_stage_key: "txt"
    image_size: 96
    channels: 4
    cond_stage_trainable: false
    conditioning_key: crossattn
    monitor: val/loss_simple_ema
    scale_factor: 0.18215
    use_ema: False # we set this to false because this is an inference only config

    unet_config:
      target: ldm.modules.diffusionmodules.openaimodel.UNetModel
      params:
        use_checkpoint: True
        use_fp16: True
        image_size: 32 # unused
        in_channels: 4
        out_channels: 4
        model_channels: 320
        attention_resolutions: [ 4, 2, 1 ]
        num_res_blocks: 2
        channel_mult: [ 1, 2, 4, 4 ]
        num_head_channels: 64 # need to fix for flash-attn
        use_spatial_transformer: True
        use_linear_in_transformer: True
        transformer_depth: 1
        context_dim: 1024
        legacy: False

    first_stage_config:
      target: ldm.models.autoencoder.AutoencoderKL
      params:
        embed_dim: 4
        monitor: val/rec_loss
        ddconfig:
          #attn_type: "vanilla-xformers"
          double_z: true
          z_channels: 4
          resolution: 256
          in_channels: 3
          out_ch: 3
          ch: 128
          ch_mult:
          - 1
          - 2
          - 4
          - 4
          num_res_blocks: 2
          attn_resolutions: []
          dropout: 0.0
        lossconfig:
          target: torch.nn.Identity

    cond_stage_config:
      target: ldm.modules.encoders.modules.FrozenOpenCLIPEmbedder
      params:
        freeze: True
        layer: "penultimate"
)";

TEST(LdmYaml, V1ConfigReadByNestedPaths) {
  const fs::path p = test::temp_dir("ldm_yaml_v1") / "v1-inference.yaml";
  write_file(p, kV1Yaml);
  const nlohmann::json expected = {{"prediction_type", "epsilon"},
                                   {"vae_scaling_factor", 0.18215},
                                   {"unet", {{"attention_head_dim", 8}, {"cross_attention_dim", 768}}}};
  EXPECT_EQ(read_ldm_yaml(p), expected) << read_ldm_yaml(p).dump();
}

TEST(LdmYaml, V2VConfigReadByNestedPaths) {
  const fs::path p = test::temp_dir("ldm_yaml_v2") / "v2-inference-v.yaml";
  write_file(p, kV2VYaml);
  const nlohmann::json expected = {
      {"prediction_type", "v_prediction"},
      {"vae_scaling_factor", 0.18215},
      {"unet", {{"i2i_head_dim", 64}, {"use_linear_projection", true}, {"cross_attention_dim", 1024}}}};
  EXPECT_EQ(read_ldm_yaml(p), expected) << read_ldm_yaml(p).dump();
  // As a --model-config of a single file, it decides the prediction type.
  CheckpointOptions o;
  o.model_config = p;
  const Checkpoint ck = open_checkpoint(test::models_dir() / "tiny-sd15.safetensors", o);
  EXPECT_EQ(ck.prediction, Prediction::V);
  EXPECT_EQ(ck.prediction_source, p.string());
  EXPECT_EQ(ck.unet_config.at("cross_attention_dim"), 1024);
}

TEST(LdmYaml, V2BaseConfigWithoutParameterizationMeansEps) {
  // A1111's v2-inference.yaml (SD 2.x 512-base) is v2-inference-v.yaml without the parameterization line.
  std::string base = kV2VYaml;
  const std::string line = "    parameterization: \"v\"\n";
  ASSERT_NE(base.find(line), std::string::npos);
  base.erase(base.find(line), line.size());
  const fs::path dir = test::temp_dir("ldm_yaml_v2_base");
  fs::create_symlink(test::models_dir() / "tiny-sd2v.fp16.safetensors", dir / "base.safetensors");
  EXPECT_EQ(open_checkpoint(dir / "base.safetensors").prediction, Prediction::V);  // bare SD 2.x default
  write_file(dir / "base.yaml", base);
  const Checkpoint ck = open_checkpoint(dir / "base.safetensors");
  EXPECT_EQ(ck.prediction, Prediction::Epsilon);
  EXPECT_EQ(ck.prediction_source, (dir / "base.yaml").string());
}

TEST(LdmYaml, SgmNetworkConfigAndAnchors) {
  const fs::path p = test::temp_dir("ldm_yaml_sgm") / "sd_xl_base.yaml";
  write_file(p, R"(model:
  target: sgm.models.diffusion.DiffusionEngine
  params:
    scale_factor: 0.13025
    network_config:
      target: sgm.modules.diffusionmodules.openaimodel.UNetModel
      params: &unet
        num_head_channels: 64
        use_linear_in_transformer: True
        context_dim: 2048
    copy: *unet
)");
  const nlohmann::json expected = {
      {"vae_scaling_factor", 0.13025},
      {"unet", {{"i2i_head_dim", 64}, {"use_linear_projection", true}, {"cross_attention_dim", 2048}}}};
  EXPECT_EQ(read_ldm_yaml(p), expected) << read_ldm_yaml(p).dump();
}

// Issue 14, item 1: a ~40,000-character line (even in a comment) overflowed the stack of the old regex
// reader. Long lines read like short ones now, in a comment and as a value; a long key is a clean error.
TEST(LdmYaml, LongLinesReadWithoutCrashing) {
  const fs::path dir = test::temp_dir("ldm_yaml_long_lines");
  const std::string long_text(200000, 'x');
  const fs::path comment = dir / "comment.yaml";
  write_file(comment, "# " + long_text + "\nmodel:\n  params:\n    scale_factor: 0.18215\n");
  EXPECT_EQ(read_ldm_yaml(comment), (nlohmann::json{{"vae_scaling_factor", 0.18215}}));
  const fs::path value = dir / "value.yaml";
  write_file(value, "model:\n  target: " + long_text + "\n  params:\n    scale_factor: 0.18215\n");
  EXPECT_EQ(read_ldm_yaml(value), (nlohmann::json{{"vae_scaling_factor", 0.18215}}));
  // YAML limits implicit keys to 1024 characters: a longer one is an error naming the file.
  const fs::path key = dir / "key.yaml";
  write_file(key, long_text + ": 1\nmodel:\n  params:\n    scale_factor: 0.18215\n");
  expect_file_error([&] { read_ldm_yaml(key); }, key, "invalid YAML");
}

TEST(LdmYaml, HostileFilesGiveOneLineErrors) {
  const fs::path dir = test::temp_dir("ldm_yaml_hostile");
  auto rejects = [&](const std::string& name, const std::string& text, const std::string& needle) {
    SCOPED_TRACE(name);
    write_file(dir / name, text);
    expect_file_error([&] { read_ldm_yaml(dir / name); }, dir / name, needle);
  };
  rejects("malformed.yaml", "model:\n  params: {parameterization: [v\n", "invalid YAML");
  rejects("tabs.yaml", "model:\n\tparams: 1\n", "invalid YAML");
  rejects("deep_flow.yaml", "model: " + std::string(100000, '['), "nested deeper than");
  rejects("deep_maps.yaml", "model: " + std::string(100000, '{'), "nested deeper than");
  std::string dashes;
  for (int i = 0; i < 100000; ++i) dashes += "- ";
  rejects("deep_dashes.yaml", dashes, "nested deeper than");
  std::string indented;
  for (int i = 0; i < 600; ++i) indented += std::string(i, ' ') + "k:\n";
  rejects("deep_indent.yaml", indented, "nested deeper than");
  rejects("too_big.yaml", "model: {}\n" + std::string(300 << 10, '#'), "too big");
  rejects("nul.yaml", std::string("model:\n  params: {}\0", 20), "NUL");
  std::mt19937 rng(11);
  std::string garbage(4096, '\0');
  for (char& c : garbage) c = static_cast<char>(rng() % 255 + 1);
  rejects("garbage.yaml", garbage, "");
  rejects("empty.yaml", "", "no top-level 'model:'");
  rejects("scalar.yaml", "just text", "no top-level 'model:'");
  rejects("list.yaml", "- model: {}\n", "no top-level 'model:'");
  rejects("bad_value.yaml", "model:\n  params:\n    unet_config:\n      params:\n        context_dim: abc\n",
          "model.params.unet_config.params.context_dim = 'abc' is not an integer");
  rejects("list_value.yaml", "model:\n  params:\n    scale_factor: [1, 2]\n", "not a single value");
  rejects("x0.yaml", "model:\n  params:\n    parameterization: x0\n", "not supported");
  fs::create_directories(dir / "folder.yaml");
  expect_file_error([&] { read_ldm_yaml(dir / "folder.yaml"); }, dir / "folder.yaml", "is a directory");
  expect_file_error([&] { read_ldm_yaml(dir / "missing.yaml"); }, dir / "missing.yaml", "cannot open");
}

// A sidecar's VAE scaling factor (the .json beside a checkpoint, or an LDM .yaml's scale_factor) that is 0,
// negative, non-finite or absurd is refused when read, naming the file and the field; it used to end in a
// black picture (issue 14 item 6).
TEST(Sidecars, AbsurdVaeScalingFactorsAreRefusedWhenRead) {
  const fs::path dir = test::temp_dir("sidecar_scale");
  fs::create_symlink(test::models_dir() / "tiny-sd15.safetensors", dir / "m.safetensors");
  for (const std::string bad : {"0", "-1", "1e300", "NaN", "Infinity", "\"abc\""}) {
    write_file(dir / "m.json", "{\"vae_scaling_factor\": " + bad + "}");
    try {
      open_checkpoint(dir / "m.safetensors", {});
      ADD_FAILURE() << "no error for " << bad;
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find((dir / "m.json").string() + ": 'vae_scaling_factor'"), std::string::npos) << msg;
    }
  }
  fs::remove(dir / "m.json");
  for (const std::string bad : {"0", "-1", "1e300", ".inf", ".nan"}) {
    write_file(dir / "m.yaml", "model:\n  params:\n    scale_factor: " + bad + "\n");
    try {
      open_checkpoint(dir / "m.safetensors", {});
      ADD_FAILURE() << "no error for " << bad;
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find((dir / "m.yaml").string() + ": model.params.scale_factor"), std::string::npos)
          << msg;
      EXPECT_NE(msg.find("is not a usable VAE scaling factor"), std::string::npos) << msg;
    }
  }
  write_file(dir / "m.yaml", "model:\n  params:\n    scale_factor: 0.13025\n");
  EXPECT_FLOAT_EQ(*open_checkpoint(dir / "m.safetensors", {}).vae_scaling_factor, 0.13025f);
}

TEST(LdmYaml, BillionLaughsIsNotExpanded) {
  // Nine times more lists at each of 25 levels: 9^25 strings if expanded.
  std::string text =
      "a: &a [\"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\"]\n";
  for (char c = 'b'; c <= 'z'; ++c) {
    text += std::string(1, c) + ": &" + c + " [";
    for (int i = 0; i < 9; ++i) text += std::string(i ? ", *" : "*") + static_cast<char>(c - 1);
    text += "]\n";
  }
  const fs::path dir = test::temp_dir("ldm_yaml_laughs");
  write_file(dir / "laughs_model.yaml", text + "model: *z\n");
  expect_file_error([&] { read_ldm_yaml(dir / "laughs_model.yaml"); }, dir / "laughs_model.yaml",
                    "no top-level 'model:'");
  write_file(dir / "laughs_params.yaml",
             text + "model:\n  params:\n    unet_config: *z\n    scale_factor: *z\n");
  expect_file_error([&] { read_ldm_yaml(dir / "laughs_params.yaml"); }, dir / "laughs_params.yaml",
                    "model.params.scale_factor is not a single value");
  write_file(dir / "laughs_unused.yaml", text + "model:\n  params:\n    parameterization: v\n    bomb: *z\n");
  EXPECT_EQ(read_ldm_yaml(dir / "laughs_unused.yaml").at("prediction_type"), "v_prediction");
}

}  // namespace
}  // namespace i2i
