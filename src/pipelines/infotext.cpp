#include "pipelines/infotext.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <map>

#include "core/error.h"
#include "pipelines/infotext_units.h"
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

}  // namespace

GenerationParameters make_infotext(const GenerationParams& p, int64_t seed, int width, int height,
                                   int batch_pos, InfotextKind kind) {
  GenerationParameters g;
  g.prompt = p.prompt;
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
  if (!p.model.empty()) g.set("Model", std::filesystem::path(p.model).stem().string());
  if (!p.vae.empty()) g.set("VAE", std::filesystem::path(p.vae).filename().string());
  if (kind.img2img) g.set("Denoising strength", format_number(p.strength));
  if (p.clip_skip != 1) g.set("Clip skip", std::to_string(p.clip_skip));
  if (!p.emphasis) g.set("Emphasis", "None");
  // A1111 writes the RNG only when it is not its default (GPU); i2i's default is CPU.
  if (p.rng == GenerationParams::Rng::Cpu) g.set("RNG", "CPU");
  if (p.batch_size > 1) {
    g.set("Batch size", std::to_string(p.batch_size));
    g.set("Batch pos", std::to_string(batch_pos));
  }
  if (p.resize_mode != ResizeMode::JustResize) g.set("Resize mode", resize_mode_name(p.resize_mode));
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
    std::string unit = "Module: " + c.preprocess +
                       ", Model: " + std::filesystem::path(c.model).stem().string() +
                       ", Weight: " + format_number(c.weight) +
                       ", Resize Mode: " + controlnet_resize_name(p.resize_mode) + ", Low Vram: False";
    if (c.preprocess == "canny")
      unit +=
          ", Threshold A: " + std::to_string(c.canny_low) + ", Threshold B: " + std::to_string(c.canny_high);
    unit += ", Guidance Start: " + format_number(c.guidance_start) +
            ", Guidance End: " + format_number(c.guidance_end) +
            ", Pixel Perfect: False, Control Mode: Balanced";
    g.set("ControlNet " + std::to_string(i), unit);
  }
  write_ip_adapter_units(p, p.controls.size(), controlnet_resize_name(p.resize_mode), g);
  if (!p.init_image.empty()) g.set("Init image", std::filesystem::absolute(p.init_image).string());
  if (!p.model.empty()) g.set("Model path", std::filesystem::absolute(p.model).string());
  if (!p.vae.empty()) g.set("VAE path", std::filesystem::absolute(p.vae).string());
  if (!p.mask.empty()) g.set("Mask image", std::filesystem::absolute(p.mask).string());
  if (kind.inpaint && !p.composite) g.set("Inpaint composite", "False");
  for (size_t i = 0; i < p.controls.size(); ++i) {
    if (!p.controls[i].image.empty())
      g.set("ControlNet " + std::to_string(i) + " image",
            std::filesystem::absolute(p.controls[i].image).string());
    g.set("ControlNet " + std::to_string(i) + " model path",
          std::filesystem::absolute(p.controls[i].model).string());
  }
  write_ip_adapter_keys(p, p.controls.size(), g);
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
      c.preprocess = v == "canny" ? "canny" : "none";
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

// Every unit in N order, dispatched on its Module: IP-Adapter units to p.ip_adapters, the rest to
// p.controls (both renumbered from 0 in order).
template <typename Number>
void apply_controlnet_units(const std::map<int, InfotextUnit>& units, GenerationParams& p, Number number) {
  for (const auto& [index, u] : units) {
    const std::string key = "ControlNet " + std::to_string(index);
    if (is_ip_adapter_module(controlnet_unit_module(u.text))) {
      p.ip_adapters.push_back(read_ip_adapter_unit(key, u.text, u.extras, number));
      continue;
    }
    ControlParams c;
    apply_controlnet_unit(key, u.text, c, number);
    for (const auto& [what, v] : u.extras) {
      if (what == "image")
        c.image = v;
      else if (what == "model path")
        c.model = v;
    }
    p.controls.push_back(c);
  }
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

}  // namespace i2i
