// LoRA files (models/lora_file.h), their key mapping onto a model's layers (models/lora_targets.h) and the
// merge formula (models/lora_apply.h add_lora_delta), checked against cases/lora.json without running a
// model: every module of every fixture LoRA lands on the module diffusers 0.27.2's lora_state_dict maps it
// to (the `loras[].modules` lists, 210 to 344 per file, kohya SD 1.x and SDXL names, LoCon, diffusers), the
// `lora_merged_weights` layers equal the generator's float32 merge, and bad files give one-line errors.
// The targets are built from the models' single files (the SDXL ones need no SDXL UNet: te2's q/k/v are
// row blocks of in_proj_weight, as openclip_text_to_hf splits them).
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "core/error.h"
#include "io/safetensors.h"
#include "models/ldm_keys.h"
#include "models/lora_apply.h"
#include "models/lora_file.h"
#include "models/lora_targets.h"
#include "models/openclip_text_keys.h"
#include "support/cli_run.h"
#include "support/fixtures.h"

namespace i2i {
namespace {
namespace fs = std::filesystem;

const char* const kIndex = "lora.json";
// README "Tolerances": single stages about 1e-4 (a merged weight is one float32 GEMM and one add).
constexpr double kWeightTol = 1e-5;

const nlohmann::json& lora_entry(const std::string& name) {
  for (const auto& l : test::index_json(kIndex).at("loras"))
    if (l.at("name") == name) return l;
  throw Error("no LoRA " + name + " in lora.json");
}

// The weights a LoRA may change, by component, from a model's single file, under diffusers / Hugging Face
// module names (views of the file).
struct ModelWeights {
  std::string family;
  int layers_per_block = 2;
  std::map<LoraComponent, Weights> components;
};

int count_down_resnets(const Weights& unet) {
  int n = 0;
  while (unet.has("down_blocks.0.resnets." + std::to_string(n) + ".conv1.weight")) ++n;
  return n;
}

const ModelWeights& model_weights(const std::string& model) {
  static std::map<std::string, std::unique_ptr<ModelWeights>> cache;
  auto& slot = cache[model];
  if (slot) return *slot;
  slot = std::make_unique<ModelWeights>();
  ModelWeights& m = *slot;
  const bool sdxl = model == "tiny-sdxl";
  static std::map<std::string, SafeTensors> files;
  const fs::path path = test::models_dir() / (model + (sdxl ? ".fp16.safetensors" : ".safetensors"));
  const SafeTensors& st = files.emplace(model, SafeTensors::open(path)).first->second;
  m.family = sdxl ? "SDXL" : "SD 1.x";
  m.components.emplace(LoraComponent::Unet, unet_weights_from_ldm(st));
  m.layers_per_block = count_down_resnets(m.components.at(LoraComponent::Unet));
  if (sdxl) {
    m.components.emplace(LoraComponent::TextEncoder,
                         weights_from_safetensors(st, "conditioner.embedders.0.transformer."));
    m.components.emplace(
        LoraComponent::TextEncoder2,
        openclip_text_to_hf(weights_from_safetensors(st, "conditioner.embedders.1.model."), -1,
                            /*with_projection=*/true));
  } else {
    m.components.emplace(LoraComponent::TextEncoder,
                         weights_from_safetensors(st, "cond_stage_model.transformer."));
  }
  return m;
}

const std::string kWeight = ".weight";

LoraTargets targets_for(const std::string& model) {
  const ModelWeights& m = model_weights(model);
  LoraTargets t(model, m.family, m.layers_per_block);
  for (const auto& [component, w] : m.components)
    for (const auto& [name, tensor] : w.all())
      if (name.size() > kWeight.size() &&
          name.compare(name.size() - kWeight.size(), kWeight.size(), kWeight) == 0 &&
          (tensor.ndim() == 2 || tensor.ndim() == 4))
        t.add(component, name.substr(0, name.size() - kWeight.size()), tensor.shape());
  return t;
}

Tensor f32_copy(const Tensor& t) {
  return t.to(DType::F32).clone();
}

LoraComponent component_of(const std::string& name) {
  if (name == "unet") return LoraComponent::Unet;
  if (name == "text_encoder") return LoraComponent::TextEncoder;
  if (name == "text_encoder_2") return LoraComponent::TextEncoder2;
  throw Error("unknown component " + name);
}

class LoraMapping : public ::testing::TestWithParam<std::string> {};

// Every module of the file on exactly diffusers' module, with the file's rank and alpha.
TEST_P(LoraMapping, EveryModuleLandsOnDiffusersModule) {
  const nlohmann::json& entry = lora_entry(GetParam());
  const LoraFile f = read_lora_file(test::fixture_path(entry.at("file")));
  EXPECT_EQ(f.format, entry.at("format").get<std::string>());
  ASSERT_EQ(f.modules.size(), entry.at("n_modules").get<size_t>());
  const LoraTargets t = targets_for(entry.at("base_model"));
  const std::vector<LoraAssignment> got = t.resolve(f);
  ASSERT_EQ(got.size(), f.modules.size());
  std::map<std::string, const LoraAssignment*> by_key;
  for (const LoraAssignment& a : got) by_key[a.module->key] = &a;
  for (const auto& want : entry.at("modules")) {
    const std::string key = want.contains("kohya") ? want.at("kohya") : want.at("key");
    auto it = by_key.find(key);
    ASSERT_NE(it, by_key.end()) << key;
    const LoraTarget& target = t.targets()[it->second->target];
    EXPECT_EQ(target.module, want.at("module").get<std::string>()) << key;
    EXPECT_EQ(target.component, component_of(want.at("component"))) << key;
    EXPECT_EQ(it->second->module->rank(), want.at("rank").get<int64_t>()) << key;
    EXPECT_NEAR(it->second->module->scale() * it->second->module->rank(), want.at("alpha").get<double>(),
                1e-6)
        << key;
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, LoraMapping,
                         ::testing::Values("tiny-style", "tiny-detail", "tiny-locon", "tiny-xl-style",
                                           "tiny-sd15-diffusers"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n)
                             if (c == '-') c = '_';
                           return n;
                         });

class LoraMergedWeights : public ::testing::TestWithParam<std::string> {};

TEST_P(LoraMergedWeights, MatchTheReferenceMerge) {
  const auto& c = test::find_index_case(kIndex, "lora_merged_weights", GetParam());
  const nlohmann::json& entry = lora_entry(c.at("lora"));
  const LoraFile f = read_lora_file(test::fixture_path(entry.at("file")));
  const std::string model = c.at("model");
  const LoraTargets t = targets_for(model);
  const std::vector<LoraAssignment> assigned = t.resolve(f);
  for (const auto& layer : c.at("layers")) {
    const LoraComponent component = component_of(layer.at("component"));
    const std::string module = layer.at("module");
    const LoraAssignment* a = nullptr;
    for (const LoraAssignment& x : assigned)
      if (t.targets()[x.target].module == module && t.targets()[x.target].component == component) a = &x;
    ASSERT_NE(a, nullptr) << module;
    EXPECT_EQ(a->module->key, layer.at("lora_key").get<std::string>());
    const double mult = layer.at("multiplier");
    const Tensor original = f32_copy(model_weights(model).components.at(component).get(module + ".weight"));
    Tensor merged = original.clone();
    add_lora_delta(merged, *a->module, static_cast<float>(mult * a->module->scale()));
    const Tensor want = test::index_tensors(kIndex).get(layer.at("merged_weight").at("key")).to(DType::F32);
    EXPECT_TRUE(test::all_close(merged.reshape(want.shape()), want, kWeightTol, module));
    EXPECT_NEAR(test::max_abs_diff(merged, original).max_abs, layer.at("max_abs_change").get<double>(), 1e-5)
        << module;
  }
}

std::vector<std::string> merged_cases() {
  std::vector<std::string> ids;
  for (const auto& c : test::index_json(kIndex).at("groups").at("lora_merged_weights").at("cases"))
    ids.push_back(c.at("id"));
  return ids;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, LoraMergedWeights, ::testing::ValuesIn(merged_cases()),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n)
                             if (!isalnum(static_cast<unsigned char>(c))) c = '_';
                           return n;
                         });

// Single-file names back to diffusers and forth: every UNet weight of the SDXL and SD 1.5 files.
TEST(LdmUnetModuleNames, InvertTheSingleFileMapping) {
  for (const char* model : {"tiny-sdxl.fp16.safetensors", "tiny-sd15.safetensors"}) {
    const SafeTensors st = SafeTensors::open(test::models_dir() / model);
    const std::string prefix = "model.diffusion_model.";
    const int layers = count_down_resnets(unet_weights_from_ldm(st));
    int checked = 0;
    for (const std::string& name : st.names()) {
      if (name.rfind(prefix, 0) != 0) continue;
      const std::string ldm = name.substr(prefix.size());
      const size_t dot = ldm.rfind('.');
      const std::string diffusers = ldm_unet_key_to_diffusers(ldm, layers);
      ASSERT_FALSE(diffusers.empty()) << ldm;
      const std::string module = diffusers.substr(0, diffusers.rfind('.'));
      const auto back = diffusers_unet_module_to_ldm(module, layers);
      EXPECT_NE(std::find(back.begin(), back.end(), ldm.substr(0, dot)), back.end()) << model << ": " << ldm;
      ++checked;
    }
    EXPECT_GT(checked, 200) << model;
  }
}

// A copy of a fixture LoRA with `change` applied to its tensors (name -> tensor), in a scratch folder.
fs::path rewritten_lora(const std::string& name, const std::string& from,
                        const std::function<void(std::map<std::string, Tensor>&)>& change,
                        const std::map<std::string, std::string>& metadata = {}) {
  const SafeTensors st = SafeTensors::open(test::fixture_path(from));
  std::map<std::string, Tensor> tensors;
  for (const auto& n : st.names()) tensors[n] = st.get(n).clone();
  change(tensors);
  const fs::path file = test::temp_dir("lora_" + name) / (name + ".safetensors");
  std::vector<std::pair<std::string, Tensor>> list(tensors.begin(), tensors.end());
  write_safetensors(file, list, metadata.empty() ? st.metadata() : metadata);
  return file;
}

void expect_error(const std::function<void()>& f, const std::vector<std::string>& parts) {
  const std::string e = test::error_of(f);
  for (const std::string& part : parts) EXPECT_NE(e.find(part), std::string::npos) << e;
  EXPECT_EQ(e.find('\n'), std::string::npos) << e;
}

TEST(LoraBadInput, OneLineErrorsNamingTheFileAndKey) {
  const LoraTargets sd15 = targets_for("tiny-sd15");
  // An SDXL LoRA on an SD 1.5 model.
  const LoraFile xl = read_lora_file(test::fixture_path("models/loras/tiny-xl-style.safetensors"));
  expect_error([&] { sd15.resolve(xl); }, {"tiny-xl-style.safetensors is an SDXL LoRA, the model is SD 1.x"});
  // ... and the SD 1.5 one on SDXL.
  const LoraFile style = read_lora_file(test::fixture_path("models/loras/tiny-style.safetensors"));
  expect_error([&] { targets_for("tiny-sdxl").resolve(style); }, {"is an SD 1.x LoRA, the model is SDXL"});

  // A key that matches no layer is reported, not ignored.
  const std::string q = "lora_unet_mid_block_attentions_0_transformer_blocks_0_attn1_to_q";
  const fs::path bogus = rewritten_lora("bogus", "models/loras/tiny-style.safetensors", [&](auto& t) {
    for (const char* s : {".lora_down.weight", ".lora_up.weight", ".alpha"}) {
      t["lora_unet_mid_block_attentions_0_transformer_blocks_0_attn9_to_q" + std::string(s)] = t.at(q + s);
    }
  });
  expect_error([&] { sd15.resolve(read_lora_file(bogus)); },
               {bogus.string(), "'lora_unet_mid_block_attentions_0_transformer_blocks_0_attn9_to_q'",
                "matches no layer"});

  // Shapes that do not fit the layer: key, shapes and file.
  const fs::path wide = rewritten_lora("wide", "models/loras/tiny-style.safetensors", [&](auto& t) {
    t[q + ".lora_down.weight"] = Tensor::zeros({4, 24}, DType::F16);
  });
  expect_error([&] { sd15.resolve(read_lora_file(wide)); },
               {wide.string(), "'" + q + "'", "down [4, 24]", "up [32, 4]", "weight [32, 32]"});

  // Down and up that make no rank-r update; a missing half; LyCORIS tensors; a file that is no LoRA.
  const fs::path rank = rewritten_lora("rank", "models/loras/tiny-style.safetensors", [&](auto& t) {
    t[q + ".lora_up.weight"] = Tensor::zeros({32, 3}, DType::F16);
  });
  expect_error([&] { read_lora_file(rank); }, {rank.string(), q, "down [4, 32]", "up [32, 3]"});
  const fs::path half = rewritten_lora("half", "models/loras/tiny-style.safetensors",
                                       [&](auto& t) { t.erase(q + ".lora_up.weight"); });
  expect_error([&] { read_lora_file(half); }, {half.string(), q, "has no up weight"});
  const fs::path loha = rewritten_lora("loha", "models/loras/tiny-style.safetensors", [&](auto& t) {
    t[q + ".hada_w1_a"] = Tensor::zeros({4, 4});
  });
  expect_error([&] { read_lora_file(loha); }, {loha.string(), q + ".hada_w1_a", "LoHa"});
  expect_error([&] { read_lora_file(test::models_dir() / "tiny-sd15.safetensors"); },
               {"tiny-sd15.safetensors", "not a LoRA tensor"});

  // Non-finite numbers would make a silently wrong (or black) picture: refused when the file is read.
  const fs::path nan_alpha = rewritten_lora("nan_alpha", "models/loras/tiny-style.safetensors", [&](auto& t) {
    t[q + ".alpha"] = Tensor::from_vector({}, {std::nanf("")}).to(DType::F16);
  });
  expect_error([&] { read_lora_file(nan_alpha); }, {nan_alpha.string(), q + ".alpha", "not a finite number"});
  const fs::path inf_up = rewritten_lora("inf_up", "models/loras/tiny-style.safetensors", [&](auto& t) {
    t[q + ".lora_up.weight"] = Tensor::from_vector({32, 4}, std::vector<float>(128, INFINITY)).to(DType::F16);
  });
  expect_error([&] { read_lora_file(inf_up); },
               {inf_up.string(), q, "NaN or infinite values in its up weight"});
}

// PEFT's names (lora_A / lora_B) and other dtypes: the diffusers fixture file renamed, its tensors as float32
// (exactly the fp16 values: the same merge) and as bf16 (rounded: close to it).
TEST(LoraFile, PeftNamesAndDtypes) {
  const std::string from = "models/loras/tiny-sd15-diffusers/pytorch_lora_weights.safetensors";
  auto rename = [](DType dtype) {
    return [dtype](std::map<std::string, Tensor>& t) {
      std::map<std::string, Tensor> out;
      for (auto& [name, tensor] : t) {
        std::string n = name;
        for (const auto& [a, b] : std::vector<std::pair<std::string, std::string>>{
                 {".lora.down.weight", ".lora_A.weight"},
                 {".lora.up.weight", ".lora_B.weight"},
                 {".lora_linear_layer.down.weight", ".lora_A.weight"},
                 {".lora_linear_layer.up.weight", ".lora_B.weight"}})
          if (n.size() > a.size() && n.compare(n.size() - a.size(), a.size(), a) == 0)
            n = n.substr(0, n.size() - a.size()) + b;
        Tensor f = tensor.to(DType::F32).clone();
        if (dtype == DType::F32) {
          out[n] = f;
        } else {
          Tensor h = Tensor::empty(f.shape(), dtype);
          convert_from_f32(f.data<float>(), h.raw(), dtype, static_cast<size_t>(f.numel()));
          out[n] = h;
        }
      }
      t = std::move(out);
    };
  };
  const LoraTargets t = targets_for("tiny-sd15");
  const LoraFile diffusers = read_lora_file(test::fixture_path(from));
  const auto want = t.resolve(diffusers);
  for (DType dtype : {DType::F32, DType::BF16}) {
    const fs::path file =
        rewritten_lora(std::string("peft_") + std::string(dtype_name(dtype)), from, rename(dtype));
    const LoraFile peft = read_lora_file(file);
    EXPECT_EQ(peft.format, "peft");
    const auto got = t.resolve(peft);
    ASSERT_EQ(got.size(), want.size());
    std::map<size_t, const LoraModule*> by_target;
    for (const LoraAssignment& a : got) by_target[a.target] = a.module;
    for (const LoraAssignment& a : want) {
      ASSERT_TRUE(by_target.count(a.target)) << a.module->key;
      const LoraModule& m = *by_target[a.target];
      EXPECT_EQ(m.down.dtype(), dtype);
      const LoraTarget& target = t.targets()[a.target];
      const Tensor original =
          f32_copy(model_weights("tiny-sd15").components.at(target.component).get(target.module + ".weight"));
      Tensor x = original.clone(), y = original.clone();
      add_lora_delta(x, *a.module, 0.8f);
      add_lora_delta(y, m, 0.8f);
      // float32: the same values; bf16: 8 bits of mantissa in up and down (values ~0.1, rank 4).
      EXPECT_LE(test::max_abs_diff(x, y).max_abs, dtype == DType::F32 ? 1e-7 : 5e-3) << target.module;
      EXPECT_GT(test::max_abs_diff(y, original).max_abs, 1e-2) << target.module;
    }
  }
}

TEST(LoraFile, ShortHashIsA1111sAddnetHash) {
  // The SHA-256 of the bytes after the header, 12 digits (no sshs_model_hash in the fixture files; values
  // from Python: hashlib.sha256(data[8 + header_size:]).hexdigest()[:12]).
  EXPECT_EQ(lora_short_hash(test::fixture_path("models/loras/tiny-style.safetensors")), "56e2a72baa59");
  EXPECT_EQ(lora_short_hash(
                test::fixture_path("models/loras/tiny-sd15-diffusers/pytorch_lora_weights.safetensors")),
            "14621e6252fc");
  const fs::path with_meta = rewritten_lora("meta", "models/loras/tiny-style.safetensors", [](auto&) {},
                                            {{"sshs_model_hash", "0123456789abcdef0123"}});
  EXPECT_EQ(lora_short_hash(with_meta), "0123456789ab");
}

// The merge of a bf16 layer (LoraLayers: bf16 products with float32 sums where the CPU has AVX512_BF16, the
// merged weight rounded to bf16 in the same pass) runs like the layer prepared in bf16 from the float32
// formula W + scale * up @ down; odd sizes (37 rows, 200 columns, rank 5) reach every tail of the kernel, and
// two LoRAs add up on one layer.
TEST(LoraMerge, Bf16LayerMatchesTheFloat32Formula) {
  const int64_t out = 37, in = 200;
  const Tensor w = test::random_uniform({out, in}, 1, -0.05f, 0.05f).to(DType::F16);
  const Tensor bias = test::random_uniform({out}, 2).to(DType::F16);
  auto file = std::make_shared<LoraFile>();
  file->path = "random.safetensors";
  file->format = "kohya";
  file->family = "SD 1.x";
  for (int64_t rank : {5, 2}) {
    LoraModule m;
    m.component = LoraComponent::Unet;
    m.name = "mid_block_attentions_0_proj_in";
    m.key = "lora_unet_" + m.name;
    m.underscored = true;
    m.down = test::random_uniform({rank, in}, static_cast<uint32_t>(10 + rank), -0.3f, 0.3f).to(DType::F16);
    m.up = test::random_uniform({out, rank}, static_cast<uint32_t>(20 + rank), -0.3f, 0.3f).to(DType::F16);
    m.alpha = 1.0;
    file->modules.push_back(std::move(m));
  }
  Linear layer(w, bias, Precision::BF16);
  LoraLayers lora("random", "SD 1.x", 2);
  lora.add_component(LoraComponent::Unet,
                     [&](const LayerVisitor& f) { visit_layer(f, "mid_block.attentions.0.proj_in", layer); });
  lora.apply({{file, 1.0, 0.7}});
  ASSERT_EQ(lora.changed_layers(), 1u);
  Tensor merged = w.to(DType::F32);
  for (const LoraModule& m : file->modules) add_lora_delta(merged, m, static_cast<float>(0.7 * m.scale()));
  const Linear want(merged, bias, Precision::BF16);
  const Tensor x = test::random_uniform({9, in}, 3);
  const Tensor got = layer(x), expected = want(x), exact = Linear(merged, bias, Precision::F32)(x);
  // Both run in bf16 (weights and activations rounded): the bf16 products of the delta may move a rounded
  // weight by one bf16 step, so the merged layer is as far from the float32 result as bf16 itself is
  // (a wrong or missing delta is off by ~0.3).
  const double bf16_error = test::max_abs_diff(expected, exact).max_abs;
  EXPECT_GT(bf16_error, 0.0);
  EXPECT_TRUE(test::all_close(got, exact, 2 * bf16_error, "bf16 layer with two LoRAs"));
  EXPECT_TRUE(test::all_close(got, expected, 2 * bf16_error, "bf16 layer with two LoRAs"));
  // ... and a float32 layer takes the float32 formula exactly as add_lora_delta computes it.
  Linear layer32(w, bias, Precision::F32);
  LoraLayers lora32("random", "SD 1.x", 2);
  lora32.add_component(LoraComponent::Unet, [&](const LayerVisitor& f) {
    visit_layer(f, "mid_block.attentions.0.proj_in", layer32);
  });
  lora32.apply({{file, 1.0, 0.7}});
  EXPECT_TRUE(test::all_close(layer32(x), exact, 1e-5, "float32 layer"));
}

}  // namespace
}  // namespace i2i
