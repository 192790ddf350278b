#include "pipelines/infotext.h"

#include <charconv>
#include <filesystem>

#include "core/error.h"
#include "sampling/scheduler.h"

namespace i2i {

std::string format_number(double v) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

GenerationParameters make_infotext(const GenerationParams& p, int64_t seed, int width, int height,
                                   int batch_pos) {
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
  g.set("Denoising strength", format_number(p.strength));
  if (p.clip_skip != 1) g.set("Clip skip", std::to_string(p.clip_skip));
  if (!p.emphasis) g.set("Emphasis", "None");
  if (p.batch_size > 1) {
    g.set("Batch size", std::to_string(p.batch_size));
    g.set("Batch pos", std::to_string(batch_pos));
  }
  if (p.resize_mode != ResizeMode::JustResize) g.set("Resize mode", resize_mode_name(p.resize_mode));
  if (!p.init_image.empty()) g.set("Init image", std::filesystem::absolute(p.init_image).string());
  if (!p.model.empty()) g.set("Model path", std::filesystem::absolute(p.model).string());
  if (!p.vae.empty()) g.set("VAE path", std::filesystem::absolute(p.vae).string());
  g.set("Version", "i2i 0.1.0");
  return g;
}

void apply_infotext(const GenerationParameters& info, GenerationParams& p) {
  auto number = [&](const std::string& key, const std::string& v) {
    try {
      size_t used = 0;
      double d = std::stod(v, &used);
      if (used != v.size()) throw std::invalid_argument(v);
      return d;
    } catch (const std::exception&) {
      throw Error("infotext: '" + key + "' has an unreadable value '" + v + "'");
    }
  };
  p.prompt = info.prompt;
  p.negative_prompt = info.negative_prompt;
  for (const auto& [key, v] : info.params) {
    if (key == "Steps")
      p.steps = static_cast<int>(number(key, v));
    else if (key == "Sampler")
      p.sampler = v;
    else if (key == "Schedule type")
      p.schedule = v;
    else if (key == "CFG scale")
      p.cfg_scale = number(key, v);
    else if (key == "Seed")
      p.seed = static_cast<int64_t>(number(key, v));
    else if (key == "Denoising strength")
      p.strength = number(key, v);
    else if (key == "Clip skip")
      p.clip_skip = static_cast<int>(number(key, v));
    else if (key == "Emphasis")
      p.emphasis = v != "None";
    else if (key == "Resize mode")
      p.resize_mode = parse_resize_mode(v);
    else if (key == "Init image")
      p.init_image = v;
    else if (key == "Model path")
      p.model = v;
    else if (key == "VAE path")
      p.vae = v;
    else if (key == "Size") {
      auto x = v.find('x');
      if (x == std::string::npos) throw Error("infotext: 'Size' has an unreadable value '" + v + "'");
      p.width = static_cast<int>(number(key, v.substr(0, x)));
      p.height = static_cast<int>(number(key, v.substr(x + 1)));
    }
  }
}

}  // namespace i2i
