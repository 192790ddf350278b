#include "support/fixtures.h"

#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <sstream>

#include "core/error.h"

namespace i2i::test {

std::filesystem::path fixtures_dir() {
  if (const char* env = std::getenv("I2I_FIXTURES"); env && *env) return env;
  return I2I_FIXTURES_DIR;
}

std::filesystem::path temp_dir(const std::string& name) {
  // ctest runs the cases of one program as separate processes side by side: the pid keeps them apart.
  std::filesystem::path p = std::filesystem::path(I2I_TEST_TMP) / (name + "-" + std::to_string(getpid()));
  std::filesystem::remove_all(p);
  std::filesystem::create_directories(p);
  return p;
}

namespace {

// cases.json is written by Python's json module, which spells non-finite floats as bare `Infinity`,
// `-Infinity` and `NaN` (e.g. a scheduler's lambda_min_clipped); strict JSON parsers reject them, and
// nlohmann::json cannot hold them from text. Outside strings they become the strings "Infinity",
// "-Infinity" and "NaN", which readers of those fields must interpret.
std::string python_json_to_json(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      out += c;
      if (c == '\\' && i + 1 < text.size())
        out += text[++i];
      else if (c == '"')
        in_string = false;
      continue;
    }
    bool replaced = false;
    for (const char* word : {"-Infinity", "Infinity", "NaN"}) {
      const size_t n = std::char_traits<char>::length(word);
      if (text.compare(i, n, word) == 0) {
        out += std::string("\"") + word + "\"";
        i += n - 1;
        replaced = true;
        break;
      }
    }
    if (replaced) continue;
    if (c == '"') in_string = true;
    out += c;
  }
  return out;
}

nlohmann::json read_python_json(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  std::stringstream text;
  text << in.rdbuf();
  return nlohmann::json::parse(python_json_to_json(text.str()));
}

}  // namespace

const nlohmann::json& cases_json() {
  static const nlohmann::json j = read_python_json(fixtures_dir() / "cases" / "cases.json");
  return j;
}

const SafeTensors& group_file(const std::string& group) {
  static std::mutex mu;
  static std::map<std::string, std::unique_ptr<SafeTensors>> files;
  std::lock_guard<std::mutex> lock(mu);
  auto& slot = files[group];
  if (!slot) {
    std::string file = cases_json().at("groups").at(group).at("file").get<std::string>();
    slot = std::make_unique<SafeTensors>(SafeTensors::open(fixtures_dir() / "cases" / file));
  }
  return *slot;
}

Tensor ref_tensor(const std::string& group, const nlohmann::json& ref) {
  return group_file(group).get(ref.at("key").get<std::string>());
}

const nlohmann::json& index_json(const std::string& index) {
  static std::mutex mu;
  static std::map<std::string, std::unique_ptr<nlohmann::json>> indexes;
  std::lock_guard<std::mutex> lock(mu);
  auto& slot = indexes[index];
  if (!slot) slot = std::make_unique<nlohmann::json>(read_python_json(fixtures_dir() / "cases" / index));
  return *slot;
}

const SafeTensors& index_tensors(const std::string& index) {
  static std::mutex mu;
  static std::map<std::string, std::unique_ptr<SafeTensors>> files;
  const std::string file = index_json(index).at("file").get<std::string>();
  std::lock_guard<std::mutex> lock(mu);
  auto& slot = files[index];
  if (!slot) slot = std::make_unique<SafeTensors>(SafeTensors::open(fixtures_dir() / "cases" / file));
  return *slot;
}

const nlohmann::json& find_index_case(const std::string& index, const std::string& group,
                                      const std::string& id) {
  for (const auto& c : index_json(index).at("groups").at(group).at("cases"))
    if (c.at("id").get<std::string>() == id) return c;
  throw std::runtime_error("no case '" + id + "' in group '" + group + "' of " + index);
}

Tensor index_output(const std::string& index, const nlohmann::json& c, const std::string& name) {
  return index_tensors(index).get(c.at("outputs").at(name).at("key").get<std::string>());
}

Image index_output_map(const std::string& index, const nlohmann::json& c, const std::string& name) {
  const Tensor t = index_output(index, c, name);
  EXPECT_EQ(t.dtype(), DType::U8) << index << " " << name;
  EXPECT_EQ(t.ndim(), 2) << index << " " << name;
  if (t.dtype() != DType::U8 || t.ndim() != 2) return Image();
  Image img(static_cast<int>(t.dim(1)), static_cast<int>(t.dim(0)), 1);
  std::memcpy(img.pixels.data(), t.raw(), img.pixels.size());
  return img;
}

std::filesystem::path case_png(const std::string& rel) {
  // cases.json names PNGs relative to cases/ ("pipelines/x.png"), the later indexes relative to the
  // fixtures folder ("cases/txt2img/pipelines/x.png").
  return rel.rfind("cases/", 0) == 0 ? fixtures_dir() / rel : fixtures_dir() / "cases" / rel;
}

const nlohmann::json& find_case(const std::string& group, const std::string& id) {
  for (const auto& c : cases_json().at("groups").at(group).at("cases"))
    if (c.at("id").get<std::string>() == id) return c;
  throw std::runtime_error("no case '" + id + "' in group '" + group + "'");
}

const std::filesystem::path& models_dir() {
  static const std::filesystem::path p = fixtures_dir() / "models";
  return p;
}

const char* source_name(Source s) {
  return s == Source::Diffusers ? "diffusers" : s == Source::SingleFp32 ? "single_fp32" : "single_fp16";
}

std::string case_name(const std::string& model, Source s) {
  std::string name = model + "_" + source_name(s);
  for (char& ch : name)
    if (ch == '-') ch = '_';
  return name;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

Weights weights_without(const Weights& w, const std::string& drop) {
  Weights out(w.origin());
  for (const auto& [name, t] : w.all())
    if (name != drop) out.add(name, t);
  return out;
}

std::filesystem::path single_file(const std::string& model, Source s) {
  return models_dir() / (model + (s == Source::SingleFp16 ? ".fp16.safetensors" : ".safetensors"));
}

std::vector<ModelSource> model_sources(std::initializer_list<const char*> models) {
  std::vector<ModelSource> p;
  for (const char* m : models)
    for (Source s : {Source::Diffusers, Source::SingleFp16}) p.push_back({m, s});
  p.push_back({"tiny-sd15", Source::SingleFp32});
  return p;
}

Tensor random_uniform(Shape shape, uint32_t seed, float lo, float hi) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  Tensor t = Tensor::empty(std::move(shape));
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = dist(rng);
  return t;
}

Diff max_abs_diff(const Tensor& a, const Tensor& b) {
  std::vector<float> x = a.to_vector(), y = b.to_vector();
  Diff d;
  for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
    double e = std::fabs(static_cast<double>(x[i]) - y[i]);
    if (std::isnan(e)) e = INFINITY;
    if (e > d.max_abs || d.worst_index < 0) {
      if (e > d.max_abs) d.max_abs = e;
      d.worst_index = static_cast<int64_t>(i);
    }
  }
  return d;
}

::testing::AssertionResult all_close(const Tensor& got, const Tensor& want, double atol,
                                     const std::string& what) {
  if (got.shape() != want.shape())
    return ::testing::AssertionFailure()
           << what << ": shape " << shape_str(got.shape()) << " != expected " << shape_str(want.shape());
  Diff d = max_abs_diff(got, want);
  if (d.max_abs <= atol) return ::testing::AssertionSuccess() << what << ": max abs diff " << d.max_abs;
  std::vector<float> x = got.to_vector(), y = want.to_vector();
  return ::testing::AssertionFailure()
         << what << ": max abs diff " << d.max_abs << " > " << atol << " at flat index " << d.worst_index
         << " (got " << x[d.worst_index] << ", want " << y[d.worst_index] << ")";
}

}  // namespace i2i::test
