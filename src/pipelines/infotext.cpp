#include "pipelines/infotext.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <map>

#include "core/error.h"
#include "models/model_hash.h"
#include "pipelines/infotext_units.h"
#include "pipelines/lora_request.h"
#include "preprocess/control_preprocessors.h"
#include "sampling/scheduler.h"

namespace i2i {

std::string format_number(double v) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

namespace {

std::string controlnet_resize_name(ResizeMode m) {
  switch (m) {
    case ResizeMode::JustResize:
      return "Just Resize";
    case ResizeMode::CropAndResize:
      return "Crop and Resize";
    case ResizeMode::ResizeAndFill:
      return "Resize and Fill";
  }
  return "";
}

// "ControlNet 3" / "ControlNet 3 image" / "ControlNet 3 model path" -> (3, "" / "image" / "model path"); -1
// for other keys.
std::pair<int, std::string> controlnet_key(const std::string& key) {
  const std::string prefix = "ControlNet ";
  if (key.rfind(prefix, 0) != 0) return {-1, ""};
  size_t i = prefix.size(), j = i;
  while (j < key.size() && std::isdigit(static_cast<unsigned char>(key[j]))) ++j;
  if (j == i || j - i > 3) return {-1, ""};
  const int index = std::stoi(key.substr(i, j - i));
  if (j == key.size()) return {index, ""};
  if (key[j] != ' ') return {-1, ""};
  return {index, key.substr(j + 1)};
}

// The one place that decides whether a path of the user's machine goes into the text: only when the
// request asks for it (GenerationParams::infotext_paths, --infotext-paths), and then absolute. Every key
// holding a path is written through it.
void write_path(GenerationParameters& g, const GenerationParams& p, const std::string& key,
                const std::string& path) {
  if (p.infotext_paths && !path.empty()) g.set(key, std::filesystem::absolute(path).string());
}

// A unit's model as the sd-webui-controlnet extension writes it: "name [hash8]" ("name" without a hash).
// The unit's text is a list of "Key: value" items split at ", ", so a ',' or ':' in a file name would be
// read as another item: those become '_' (a re-run then finds the file by its hash).
std::string unit_model(const std::string& path, const std::string& hash) {
  std::string name = model_stem(path);
  for (char& ch : name)
    if (ch == ',' || ch == ':') ch = '_';
  return hash.empty() ? name : name + " [" + hash + "]";
}

// hash(path), or "" when the file cannot be read.
template <typename Hash>
std::string hash_or_empty(const std::string& path, Hash hash) {
  if (path.empty()) return "";
  try {
    return hash(path);
  } catch (const Error&) {
    return "";
  }
}

// The reference-only unit's number: after the --control units and the IP-Adapter units.
size_t reference_unit_number(const GenerationParams& p) {
  return p.controls.size() + p.ip_adapters.size();
}

// The sd-webui-controlnet extension's text for a reference unit: no model, the style fidelity as Threshold A
// (the extension's slider for it), the unit's Weight the attention weight (the AdaIN weight for
// reference_adain); i2i's own keys keep both.
void set_reference_unit(GenerationParameters& g, const ReferenceParams& r, size_t n, ResizeMode resize) {
  const double weight = r.mode == ReferenceMode::Adain ? r.adain_weight : r.attn_weight;
  g.set("ControlNet " + std::to_string(n),
        "Module: " + reference_mode_name(r.mode) + ", Model: None, Weight: " + format_number(weight) +
            ", Resize Mode: " + controlnet_resize_name(resize) +
            ", Low Vram: False, Threshold A: " + format_number(r.style_fidelity) +
            ", Guidance Start: 0, Guidance End: 1, Pixel Perfect: False, Control Mode: Balanced");
}

// i2i's keys to re-run a reference unit: its picture and both auto machine weights.
void set_reference_unit_paths(GenerationParameters& g, const GenerationParams& p, const ReferenceParams& r,
                              size_t n) {
  const std::string key = "ControlNet " + std::to_string(n);
  write_path(g, p, key + " image", r.image);
  g.set(key + " reference attn weight", format_number(r.attn_weight));
  g.set(key + " reference adain weight", format_number(r.adain_weight));
}

std::string pair_text(const PairXY& v) {
  return std::to_string(v.x) + "," + std::to_string(v.y);
}

// i2i's keys for the SDXL settings that differ from their defaults.
void set_sdxl_keys(GenerationParameters& g, const GenerationParams& p) {
  for (auto [key, v] : {std::pair{"SDXL original size", &p.original_size},
                        {"SDXL target size", &p.target_size},
                        {"SDXL negative original size", &p.negative_original_size},
                        {"SDXL negative target size", &p.negative_target_size}})
    if (*v) g.set(key, pair_text(**v));
  if (!(p.crops_top_left == PairXY{})) g.set("SDXL crops top left", pair_text(p.crops_top_left));
  if (!(p.negative_crops_top_left == PairXY{}))
    g.set("SDXL negative crops top left", pair_text(p.negative_crops_top_left));
  if (p.aesthetic_score != 6.0) g.set("Aesthetic score", format_number(p.aesthetic_score));
  if (p.negative_aesthetic_score != 2.5)
    g.set("Negative aesthetic score", format_number(p.negative_aesthetic_score));
}

}  // namespace

InfotextHashes infotext_hashes(const GenerationParams& p) {
  InfotextHashes h;
  h.model = hash_or_empty(p.model, model_short_hash);
  h.vae = hash_or_empty(p.vae, model_short_hash);
  for (const ControlParams& c : p.controls)
    h.controls.push_back(hash_or_empty(c.model, controlnet_short_hash));
  h.refiner = hash_or_empty(p.refiner, model_short_hash);
  return h;
}

GenerationParameters make_infotext(const GenerationParams& p, int64_t seed, int width, int height,
                                   int batch_pos, InfotextKind kind, const InfotextHashes& hashes) {
  GenerationParameters g;
  g.prompt = p.prompt + lora_param_tags(p);  // LoRAs given by file as the tags that name them
  g.negative_prompt = p.negative_prompt;
  g.set("Steps", std::to_string(p.steps));
  g.set("Sampler", canonical_sampler_name(p.sampler));
  if (!p.schedule.empty() && p.schedule != "automatic") {
    std::string s = p.schedule;
    s[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(s[0])));
    g.set("Schedule type", s);
  }
  g.set("CFG scale", format_number(p.cfg_scale));
  g.set("Seed", std::to_string(seed));
  g.set("Size", std::to_string(width) + "x" + std::to_string(height));
  if (!hashes.model.empty()) g.set("Model hash", hashes.model);
  if (!p.model.empty()) g.set("Model", model_stem(p.model));
  if (!hashes.vae.empty()) g.set("VAE hash", hashes.vae);
  if (!p.vae.empty()) g.set("VAE", vae_file_name(p.vae));
  if (kind.img2img) g.set("Denoising strength", format_number(p.strength));
  if (p.clip_skip != 1) g.set("Clip skip", std::to_string(p.clip_skip));
  if (!p.emphasis) g.set("Emphasis", "None");
  // A1111 writes the RNG only when it is not its default (GPU); i2i's default is CPU.
  if (p.rng == GenerationParams::Rng::Cpu) g.set("RNG", "CPU");
  if (!hashes.loras.empty()) g.set("Lora hashes", hashes.loras);
  if (p.batch_size > 1) {
    g.set("Batch size", std::to_string(p.batch_size));
    g.set("Batch pos", std::to_string(batch_pos));
  }
  if (!hashes.embeddings.empty()) {
    // A1111 (sd_hijack_clip.py) drops ':' and ',' from the names so that the list reads back.
    std::string list;
    for (const auto& [name, hash] : hashes.embeddings) {
      std::string clean;
      for (char c : name)
        if (c != ':' && c != ',') clean += c;
      list += (list.empty() ? "" : ", ") + clean + ": " + hash;
    }
    g.set("TI hashes", list);
  }
  if (p.resize_mode != ResizeMode::JustResize) g.set("Resize mode", resize_mode_name(p.resize_mode));
  if (!p.refiner.empty()) {
    g.set("Refiner", model_stem(p.refiner) + (hashes.refiner.empty() ? "" : " [" + hashes.refiner + "]"));
    g.set("Refiner switch at", format_number(p.refiner_switch_at));
  }
  set_sdxl_keys(g, p);
  if (kind.inpaint) {
    const MaskOptions& m = p.mask_options;
    g.set("Mask blur", std::to_string(m.blur));
    if (m.invert) g.set("Mask mode", "Inpaint not masked");
    g.set("Masked content", masked_content_name(m.content));
    if (m.only_masked) {
      g.set("Inpaint area", "Only masked");
      g.set("Masked area padding", std::to_string(m.padding));
    }
  }
  for (size_t i = 0; i < p.controls.size(); ++i) {
    const ControlParams& c = p.controls[i];
    // The sd-webui-controlnet extension's unit text.
    std::string unit =
        "Module: " + c.preprocess +
        ", Model: " + unit_model(c.model, i < hashes.controls.size() ? hashes.controls[i] : "") +
        ", Weight: " + format_number(c.weight) + ", Resize Mode: " + controlnet_resize_name(p.resize_mode) +
        ", Low Vram: False";
    // The extension writes the sliders the module shows (hidden ones are -1 and left out).
    const ControlPreprocessor* pre = find_control_preprocessor(c.preprocess);
    if (pre && pre->uses_resolution) unit += ", Processor Res: " + std::to_string(c.resolution);
    if (pre && pre->threshold_a) unit += ", Threshold A: " + std::to_string(c.canny_low);
    if (pre && pre->threshold_b) unit += ", Threshold B: " + std::to_string(c.canny_high);
    unit += ", Guidance Start: " + format_number(c.guidance_start) +
            ", Guidance End: " + format_number(c.guidance_end) +
            ", Pixel Perfect: False, Control Mode: Balanced";
    g.set("ControlNet " + std::to_string(i), unit);
  }
  if (p.reference) set_reference_unit(g, *p.reference, reference_unit_number(p), p.resize_mode);
  write_ip_adapter_units(p, p.controls.size(), controlnet_resize_name(p.resize_mode), g);
  write_path(g, p, "Init image", p.init_image);
  write_path(g, p, "Model path", p.model);
  write_path(g, p, "VAE path", p.vae);
  write_path(g, p, "Refiner path", p.refiner);
  write_path(g, p, "Mask image", p.mask);
  if (kind.inpaint && !p.composite) g.set("Inpaint composite", "False");
  for (size_t i = 0; i < p.controls.size(); ++i) {
    write_path(g, p, "ControlNet " + std::to_string(i) + " image", p.controls[i].image);
    write_path(g, p, "ControlNet " + std::to_string(i) + " model path", p.controls[i].model);
    write_path(g, p, "ControlNet " + std::to_string(i) + " annotator path", p.controls[i].annotator_model);
  }
  write_ip_adapter_keys(p, p.controls.size(), g);
  if (p.reference) set_reference_unit_paths(g, p, *p.reference, reference_unit_number(p));
  g.set("Version", "i2i 0.1.0");
  return g;
}

namespace {

// The extension's unit text: "Module: canny, Model: x, Weight: 1, ..., Guidance Start: 0, Guidance End: 1".
template <typename Number>
void apply_controlnet_unit(const std::string& key, const std::string& text, ControlParams& c, Number number) {
  for (const auto& [k, v] : controlnet_unit_items(text)) {
    const std::string what = key + " " + k;
    if (k == "Module")
      c.preprocess = find_control_preprocessor(v) ? v : "none";
    else if (k == "Processor Res")
      c.resolution = static_cast<int>(std::clamp(number(what, v), -1e6, 1e6));
    else if (k == "Weight")
      c.weight = number(what, v);
    else if (k == "Guidance Start")
      c.guidance_start = number(what, v);
    else if (k == "Guidance End")
      c.guidance_end = number(what, v);
    else if (k == "Threshold A")
      c.canny_low = static_cast<int>(std::clamp(number(what, v), -1e6, 1e6));
    else if (k == "Threshold B")
      c.canny_high = static_cast<int>(std::clamp(number(what, v), -1e6, 1e6));
  }
}

// The "ControlNet N" keys of an infotext, by N: the unit text and i2i's keys ("image", "model path", ...).
struct InfotextUnit {
  std::string text;
  std::map<std::string, std::string> extras;
};

// A reference unit ("Module: reference_only, ..., Weight: 1, ..., Threshold A: 0.5, ..." and i2i's keys).
template <typename Number>
void apply_reference_unit(int index, const InfotextUnit& unit, GenerationParams& p, Number number) {
  const std::string key = "ControlNet " + std::to_string(index);
  ReferenceParams r;
  const std::string& text = unit.text;
  try {
    r.mode = parse_reference_mode(controlnet_unit_module(text));
  } catch (const Error&) {
    throw Error("infotext: '" + key + "' has an unknown reference module '" + controlnet_unit_module(text) +
                "'");
  }
  for (const auto& [k, v] : controlnet_unit_items(text)) {
    if (k == "Weight") r.attn_weight = r.adain_weight = number(key + " Weight", v);
    if (k == "Threshold A") r.style_fidelity = number(key + " Threshold A", v);
  }
  for (const auto& [what, v] : unit.extras) {
    if (what == "image") r.image = v;
    if (what == "reference attn weight") r.attn_weight = number(key + " " + what, v);
    if (what == "reference adain weight") r.adain_weight = number(key + " " + what, v);
  }
  p.reference = r;
}

// Every unit in N order, dispatched on its Module: IP-Adapter units to p.ip_adapters, a reference unit to
// p.reference, the rest to p.controls (in N order; each keeps its N for messages, ControlParams::number).
template <typename Number>
void apply_controlnet_units(const std::map<int, InfotextUnit>& units, GenerationParams& p, Number number) {
  for (const auto& [index, u] : units) {
    const std::string key = "ControlNet " + std::to_string(index);
    if (u.text.empty())  // i2i's keys of a unit the text does not have ("ControlNet 999 image" alone)
      throw Error("infotext: '" + key + " " + u.extras.begin()->first +
                  "' belongs to no unit (there is no '" + key + "' key)");
    if (is_ip_adapter_module(controlnet_unit_module(u.text))) {
      p.ip_adapters.push_back(read_ip_adapter_unit(key, u.text, u.extras, number));
      p.ip_adapters.back().number = index;
      continue;
    }
    if (controlnet_unit_module(u.text).rfind("reference_", 0) == 0) {
      apply_reference_unit(index, u, p, number);
      continue;
    }
    ControlParams c;
    c.number = index;
    apply_controlnet_unit(key, u.text, c, number);
    for (const auto& [what, v] : u.extras) {
      if (what == "image")
        c.image = v;
      else if (what == "model path")
        c.model = v;
      else if (what == "annotator path")
        c.annotator_model = v;
    }
    p.controls.push_back(c);
  }
}

}  // namespace

namespace {

// "W,H" / "X,Y" of an `SDXL ...` key into its field (unknown SDXL keys are ignored, as other unknown keys).
template <typename Integer>
void apply_sdxl_key(const std::string& key, const std::string& v, GenerationParams& p, Integer integer) {
  const size_t comma = v.find(',');
  if (comma == std::string::npos) throw Error("infotext: '" + key + "' has an unreadable value '" + v + "'");
  const PairXY xy{static_cast<int>(integer(key, v.substr(0, comma), 0.0, 65536.0)),
                  static_cast<int>(integer(key, v.substr(comma + 1), 0.0, 65536.0))};
  if (key == "SDXL original size")
    p.original_size = xy;
  else if (key == "SDXL target size")
    p.target_size = xy;
  else if (key == "SDXL negative original size")
    p.negative_original_size = xy;
  else if (key == "SDXL negative target size")
    p.negative_target_size = xy;
  else if (key == "SDXL crops top left")
    p.crops_top_left = xy;
  else if (key == "SDXL negative crops top left")
    p.negative_crops_top_left = xy;
}

}  // namespace

void apply_infotext(const GenerationParameters& info, GenerationParams& p) {
  auto number = [&](const std::string& key, const std::string& v) {
    try {
      size_t used = 0;
      double d = std::stod(v, &used);
      if (used != v.size() || !std::isfinite(d)) throw std::invalid_argument(v);
      return d;
    } catch (const std::exception&) {
      throw Error("infotext: '" + key + "' has an unreadable value '" + v + "'");
    }
  };
  // A whole number that fits the field (a text of NaN, 7.9 or 1e20 is refused, not converted).
  auto integer = [&](const std::string& key, const std::string& v, double lo = -2147483648.0,
                     double hi = 2147483647.0) {
    const double d = number(key, v);
    if (!(d >= lo && d <= hi) || d != std::floor(d))
      throw Error("infotext: '" + key + "' value '" + v + "' is not a whole number in range");
    return d;
  };
  p.prompt = info.prompt;
  p.rng = info.get("RNG") ? GenerationParams::Rng::Cpu : GenerationParams::Rng::Gpu;  // A1111's default: GPU
  p.negative_prompt = info.negative_prompt;
  std::map<int, InfotextUnit> units;
  for (const auto& [key, v] : info.params) {
    if (key == "Steps")
      p.steps = static_cast<int>(integer(key, v));
    else if (key == "Sampler")
      p.sampler = v;
    else if (key == "Schedule type")
      p.schedule = v;
    else if (key == "CFG scale")
      p.cfg_scale = number(key, v);
    else if (key == "Seed")
      p.seed = static_cast<int64_t>(integer(key, v, -1.0, static_cast<double>(kMaxSeed)));
    else if (key == "Denoising strength")
      p.strength = number(key, v);
    else if (key == "Clip skip")
      p.clip_skip = static_cast<int>(integer(key, v));
    else if (key == "Emphasis")
      p.emphasis = v != "None";
    else if (key == "RNG")
      p.rng = v == "GPU" ? GenerationParams::Rng::Gpu : GenerationParams::Rng::Cpu;
    else if (key == "Resize mode")
      p.resize_mode = parse_resize_mode(v);
    else if (key == "Init image")
      p.init_image = v;
    else if (key == "Model path")
      p.model = v;
    else if (key == "VAE path")
      p.vae = v;
    else if (key == "Refiner path")
      p.refiner = v;
    else if (key == "Mask image")
      p.mask = v;
    else if (key == "Mask blur")
      p.mask_options.blur = static_cast<int>(integer(key, v));
    else if (key == "Mask mode")
      p.mask_options.invert = v == "Inpaint not masked";
    else if (key == "Masked content")
      p.mask_options.content = parse_masked_content(v);
    else if (key == "Inpaint area")
      p.mask_options.only_masked = v == "Only masked";
    else if (key == "Masked area padding")
      p.mask_options.padding = static_cast<int>(integer(key, v));
    else if (key == "Inpaint composite")
      p.composite = v != "False";
    else if (key == "Refiner switch at")
      p.refiner_switch_at = number(key, v);
    else if (key == "Aesthetic score")
      p.aesthetic_score = number(key, v);
    else if (key == "Negative aesthetic score")
      p.negative_aesthetic_score = number(key, v);
    else if (key.rfind("SDXL ", 0) == 0)
      apply_sdxl_key(key, v, p, integer);
    else if (auto [index, what] = controlnet_key(key); index >= 0) {
      InfotextUnit& u = units[index];
      if (what.empty())
        u.text = v;
      else
        u.extras[what] = v;
    } else if (key == "Size") {
      auto x = v.find('x');
      if (x == std::string::npos) throw Error("infotext: 'Size' has an unreadable value '" + v + "'");
      p.width = static_cast<int>(integer(key, v.substr(0, x)));
      p.height = static_cast<int>(integer(key, v.substr(x + 1)));
    }
  }
  apply_controlnet_units(units, p, number);
}

namespace {

// The value of `field` in an extension unit text ("Module: canny, Model: x [1234abcd], Weight: 1, ...").
std::string unit_field(const std::string& text, const std::string& field) {
  for (const auto& [k, v] : controlnet_unit_items(text))
    if (k == field) return v;
  return "";
}

// "control_v11p_sd15_canny [d14c016b]" -> {name, hash}; "x" -> {x, ""}. The extension's "None" is no model.
ModelRef unit_model_ref(const std::string& v) {
  ModelRef r;
  if (v.empty() || v == "None") return r;
  const size_t open = v.rfind(" [");
  if (open != std::string::npos && v.back() == ']') {
    r.name = v.substr(0, open);
    r.hash = v.substr(open + 2, v.size() - open - 3);
  } else {
    r.name = v;
  }
  return r;
}

}  // namespace

RecordedModels recorded_models(const GenerationParameters& info) {
  RecordedModels r;
  r.model.name = info.get("Model").value_or("");
  r.model.hash = info.get("Model hash").value_or("");
  r.vae.name = info.get("VAE").value_or("");
  r.vae.hash = info.get("VAE hash").value_or("");
  r.refiner = unit_model_ref(info.get("Refiner").value_or(""));
  // In the order and numbering of GenerationParams::controls (apply_controlnet_units): ControlNet units
  // only, in N order, renumbered from 0.
  std::map<int, std::string> units;
  for (const auto& [key, v] : info.params) {
    const auto [index, what] = controlnet_key(key);
    if (index >= 0 && what.empty()) units[index] = v;
  }
  for (const auto& [index, text] : units) {
    const std::string module = controlnet_unit_module(text);
    if (is_ip_adapter_module(module) || module.rfind("reference_", 0) == 0) continue;
    r.controls.push_back(unit_model_ref(unit_field(text, "Model")));
  }
  return r;
}

namespace {

// (parameter, key); unit fields are read from the unit text of a "ControlNet N" key.
const std::pair<const char*, const char*> kParameterKeys[] = {
    {"steps", "Steps"},
    {"sampler", "Sampler"},
    {"schedule", "Schedule type"},
    {"cfg_scale", "CFG scale"},
    {"seed", "Seed"},
    {"strength", "Denoising strength"},
    {"clip_skip", "Clip skip"},
    {"resize_mode", "Resize mode"},
    {"width", "Size"},
    {"height", "Size"},
    {"mask_blur", "Mask blur"},
    {"padding", "Masked area padding"},
    {"refiner_switch_at", "Refiner switch at"},
    {"aesthetic_score", "Aesthetic score"},
    {"negative_aesthetic_score", "Negative aesthetic score"},
    {"original_size", "SDXL original size"},
    {"target_size", "SDXL target size"},
    {"negative_original_size", "SDXL negative original size"},
    {"negative_target_size", "SDXL negative target size"},
    {"crops_top_left", "SDXL crops top left"},
    {"negative_crops_top_left", "SDXL negative crops top left"},
    {"prompt", "prompt"},
    {"negative_prompt", "Negative prompt"},
    {"control_model", "Model"},
    {"control_weight", "Weight"},
    {"control_start", "Guidance Start"},
    {"control_end", "Guidance End"},
    {"canny_low", "Threshold A"},
    {"canny_high", "Threshold B"},
    {"ip_adapter_scale", "Weight"},
    {"style_fidelity", "Threshold A"},
    {"reference_attn_weight", "reference attn weight"},
    {"reference_adain_weight", "reference adain weight"},
};

bool is_unit_parameter(const std::string& name) {
  return name.rfind("control_", 0) == 0 || name.rfind("canny_", 0) == 0 ||
         name.rfind("ip_adapter_", 0) == 0 || name == "style_fidelity" || name.rfind("reference_", 0) == 0;
}

}  // namespace

std::string infotext_key_for_parameter(const std::string& name) {
  for (const auto& [param, key] : kParameterKeys)
    if (name == param) return key;
  return "";
}

bool infotext_sets_parameter(const GenerationParameters& info, const std::string& name) {
  const std::string key = infotext_key_for_parameter(name);
  if (key.empty()) return false;
  if (name == "prompt") return !info.prompt.empty();
  if (name == "negative_prompt") return !info.negative_prompt.empty();
  if (is_unit_parameter(name)) {
    for (const auto& [k, v] : info.params)
      if (controlnet_key(k).first >= 0) return true;
    return false;
  }
  return info.get(key).has_value();
}

std::vector<std::string> unhonoured_infotext_keys(const GenerationParameters& info) {
  // A1111's keys (modules/processing.py create_infotext, the hires. fix and the extra options) for
  // settings i2i does not have. Keys that only describe (Version, hashes, Face restoration's model...)
  // are not listed: they change nothing.
  static const char* const kUnhonoured[] = {
      "Eta",
      "Eta DDIM",
      "ENSD",
      "Variation seed",
      "Variation seed strength",
      "Seed resize from",
      "Face restoration",
      "Tiling",
      "Noise multiplier",
      "NGMS",
      "Token merging ratio",
      "Pad conds",
      "Sigma churn",
      "Sigma tmin",
      "Sigma tmax",
      "Sigma noise",
      "Schedule max sigma",
      "Schedule min sigma",
      "Schedule rho",
      "Hires upscale",
      "Hires upscaler",
      "Hires steps",
      "Hires resize",
      "Hires prompt",
      "Hires negative prompt",
      "Hires sampler",
      "Hires schedule type",
      "Hires CFG Scale",
      "Hires checkpoint",
      "Hires Module 1",
  };
  std::vector<std::string> out;
  for (const auto& [key, v] : info.params) {
    bool listed = false;
    for (const char* k : kUnhonoured) listed = listed || key == k;
    if (listed || key.rfind("Hires ", 0) == 0) out.push_back(key);
  }
  return out;
}

}  // namespace i2i
