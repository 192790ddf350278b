#include "models/lora_file.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <mutex>

#include "core/error.h"
#include "io/file_hash.h"
#include "io/safetensors.h"

namespace i2i {
namespace fs = std::filesystem;

const char* lora_component_name(LoraComponent c) {
  switch (c) {
    case LoraComponent::Unet:
      return "unet";
    case LoraComponent::TextEncoder:
      return "text_encoder";
    case LoraComponent::TextEncoder2:
      return "text_encoder_2";
  }
  return "?";
}

namespace {

bool starts_with(const std::string& s, const std::string& p) {
  return s.compare(0, p.size(), p) == 0;
}
bool ends_with(const std::string& s, const std::string& p) {
  return s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
}

enum class Part { Down, Up, Alpha };

struct Suffix {
  const char* text;
  Part part;
  const char* format;
  size_t keep;  // leading characters of `text` that belong to the module's key (diffusers: ".lora")
};
// Longest first where one ends another.
const Suffix kSuffixes[] = {
    {".lora_down.weight", Part::Down, "kohya", 0},
    {".lora_up.weight", Part::Up, "kohya", 0},
    {".lora_linear_layer.down.weight", Part::Down, "diffusers", 18},
    {".lora_linear_layer.up.weight", Part::Up, "diffusers", 18},
    {".lora.down.weight", Part::Down, "diffusers", 5},
    {".lora.up.weight", Part::Up, "diffusers", 5},
    {".lora_A.weight", Part::Down, "peft", 0},
    {".lora_B.weight", Part::Up, "peft", 0},
    {".alpha", Part::Alpha, "", 0},
};

struct Prefix {
  const char* text;
  LoraComponent component;
  bool underscored;
  bool sdxl;
};
const Prefix kPrefixes[] = {
    {"lora_unet_", LoraComponent::Unet, true, false},
    {"lora_te1_", LoraComponent::TextEncoder, true, true},
    {"lora_te2_", LoraComponent::TextEncoder2, true, true},
    {"lora_te_", LoraComponent::TextEncoder, true, false},
    {"unet.", LoraComponent::Unet, false, false},
    {"text_encoder_2.", LoraComponent::TextEncoder2, false, true},
    {"text_encoder.", LoraComponent::TextEncoder, false, false},
};

// What a key that is no LoRA tensor probably is, for the message.
std::string unsupported_kind(const std::string& key) {
  for (const char* s : {".hada_w1_a", ".hada_w1_b", ".hada_w2_a", ".hada_w2_b", ".hada_t1", ".hada_t2"})
    if (ends_with(key, s)) return "a LyCORIS LoHa tensor";
  for (const char* s :
       {".lokr_w1", ".lokr_w2", ".lokr_w1_a", ".lokr_w1_b", ".lokr_w2_a", ".lokr_w2_b", ".lokr_t2"})
    if (ends_with(key, s)) return "a LyCORIS LoKr tensor";
  if (ends_with(key, ".lora_mid.weight")) return "a LoCon Tucker (lora_mid) tensor";
  if (ends_with(key, ".dora_scale")) return "a DoRA tensor";
  if (ends_with(key, ".diff") || ends_with(key, ".diff_b")) return "a full weight difference";
  if (ends_with(key, ".w_norm") || ends_with(key, ".b_norm")) return "a norm-layer tensor";
  return "not a LoRA tensor i2i knows";
}

bool all_finite(const Tensor& t) {
  const Tensor f = t.to(DType::F32);
  const float* v = f.data<float>();
  for (int64_t i = 0; i < f.numel(); ++i)
    if (!std::isfinite(v[i])) return false;
  return true;
}

double scalar_value(const Tensor& t) {
  const Tensor f = t.to(DType::F32);
  return f.data<float>()[0];
}

std::string family_from_metadata(const std::map<std::string, std::string>& m) {
  auto it = m.find("ss_base_model_version");
  if (it != m.end()) {
    if (starts_with(it->second, "sdxl")) return "SDXL";
    if (starts_with(it->second, "sd_v1")) return "SD 1.x";
    if (starts_with(it->second, "sd_v2")) return "SD 2.x";
  }
  it = m.find("ss_v2");
  if (it != m.end() && it->second == "True") return "SD 2.x";
  return "";
}

}  // namespace

LoraFile read_lora_file(const fs::path& path) {
  const SafeTensors st = SafeTensors::open(path);
  const std::string file = path.string();
  LoraFile f;
  f.path = path;
  f.metadata = st.metadata();
  bool sdxl_keys = false;
  std::map<std::string, size_t> index;  // key prefix -> modules[i]
  std::vector<bool> has_down, has_up;
  for (const std::string& name : st.names()) {
    const Suffix* suffix = nullptr;
    for (const Suffix& s : kSuffixes)
      if (ends_with(name, s.text)) {
        suffix = &s;
        break;
      }
    if (!suffix)
      throw Error(file + ": tensor '" + name + "' is " + unsupported_kind(name) +
                  " (i2i applies LoRA and LoCon networks: lora_down / lora_up / alpha)");
    const std::string key = name.substr(0, name.size() - std::string(suffix->text).size());  // the module
    const Prefix* prefix = nullptr;
    for (const Prefix& p : kPrefixes)
      if (starts_with(key, p.text) && key.size() > std::string(p.text).size()) {
        prefix = &p;
        break;
      }
    if (!prefix)
      throw Error(file + ": tensor '" + name +
                  "' names no model component (expected lora_unet_, lora_te_, lora_te1_, lora_te2_, unet., "
                  "text_encoder. or text_encoder_2.)");
    if (*suffix->format) {
      const std::string format = suffix->format;
      if (f.format.empty()) f.format = format;
      if (f.format != format)
        throw Error(file + ": tensor '" + name + "' is in the " + format + " layout, earlier ones in the " +
                    f.format + " layout");
    }
    sdxl_keys = sdxl_keys || prefix->sdxl;
    auto [it, added] = index.emplace(key, f.modules.size());
    if (added) {
      LoraModule m;
      m.key = key;
      m.component = prefix->component;
      m.name = key.substr(std::string(prefix->text).size());
      m.underscored = prefix->underscored;
      f.modules.push_back(std::move(m));
      has_down.push_back(false);
      has_up.push_back(false);
    }
    LoraModule& m = f.modules[it->second];
    if (suffix->keep) m.key = name.substr(0, key.size() + suffix->keep);
    const Tensor t = st.get(name);
    check(t.dtype() == DType::F32 || t.dtype() == DType::F16 || t.dtype() == DType::BF16,
          file + ": tensor '" + name + "' is " + std::string(dtype_name(t.dtype())) +
              ", expected F32, F16 or BF16");
    switch (suffix->part) {
      case Part::Down:
        m.down = t;
        has_down[it->second] = true;
        break;
      case Part::Up:
        m.up = t;
        has_up[it->second] = true;
        break;
      case Part::Alpha:
        check(t.numel() == 1, file + ": tensor '" + name + "' has shape " + shape_str(t.shape()) +
                                  ", expected a single value (alpha)");
        m.alpha = scalar_value(t);
        check(std::isfinite(*m.alpha), file + ": tensor '" + name + "' (alpha) is not a finite number");
        break;
    }
  }
  check(!f.modules.empty(), file + ": no LoRA tensors in this file");
  if (f.format.empty()) f.format = "kohya";
  for (size_t i = 0; i < f.modules.size(); ++i) {
    const LoraModule& m = f.modules[i];
    if (!has_down[i] || !has_up[i])
      throw Error(file + ": LoRA module '" + m.key + "' has no " + (has_down[i] ? "up" : "down") + " weight");
    const bool conv = m.down.ndim() == 4;
    const bool fits = (m.down.ndim() == 2 || conv) && m.up.ndim() == m.down.ndim() &&
                      m.up.dim(1) == m.down.dim(0) && m.down.dim(0) > 0 &&
                      (!conv || (m.up.dim(2) == 1 && m.up.dim(3) == 1));
    if (!fits)
      throw Error(file + ": LoRA module '" + m.key + "' has down " + shape_str(m.down.shape()) + " and up " +
                  shape_str(m.up.shape()) +
                  ", which do not make a rank-r update (down [r, in(, kh, kw)], up " + "[out, r(, 1, 1)])");
    for (const Tensor* t : {&m.down, &m.up})
      if (!all_finite(*t))
        throw Error(file + ": LoRA module '" + m.key + "' has NaN or infinite values in its " +
                    (t == &m.down ? "down" : "up") + " weight");
  }
  f.family = sdxl_keys ? "SDXL" : family_from_metadata(f.metadata);
  return f;
}

std::string lora_short_hash(const fs::path& path) {
  struct Entry {
    uintmax_t size;
    fs::file_time_type mtime;
    std::string hash;
  };
  static std::mutex mutex;
  static std::map<std::string, Entry> cache;
  std::error_code ec;
  const fs::path abs = fs::absolute(path, ec);
  const uintmax_t size = fs::file_size(path, ec);
  const fs::file_time_type mtime = fs::last_write_time(path, ec);
  {
    std::lock_guard<std::mutex> lock(mutex);
    auto it = cache.find(abs.string());
    if (it != cache.end() && it->second.size == size && it->second.mtime == mtime) return it->second.hash;
  }
  std::string hash;
  const SafeTensors st = SafeTensors::open(path);
  auto m = st.metadata().find("sshs_model_hash");
  if (m != st.metadata().end() && !m->second.empty()) {
    hash = m->second;
  } else {
    const uint64_t data = st.data_start();  // A1111's addnet hash: the bytes after the header
    hash = sha256_file_range(path, data, std::numeric_limits<uint64_t>::max() - data);
  }
  hash = hash.substr(0, 12);
  std::lock_guard<std::mutex> lock(mutex);
  cache[abs.string()] = {size, mtime, hash};
  return hash;
}

}  // namespace i2i
