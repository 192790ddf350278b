#include "pipelines/generation_params.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "io/parameters.h"
#include "models/model_names.h"
#include "pipelines/infotext.h"
#include "pipelines/ip_adapter_units.h"
#include "preprocess/annotator_lookup.h"
#include "preprocess/control_preprocessors.h"

namespace i2i {

std::string resize_mode_name(ResizeMode m) {
  switch (m) {
    case ResizeMode::JustResize:
      return "Just resize";
    case ResizeMode::CropAndResize:
      return "Crop and resize";
    case ResizeMode::ResizeAndFill:
      return "Resize and fill";
  }
  return "";
}

std::string control_unit_name(const ControlParams& c, size_t i) {
  return "ControlNet " + std::to_string(c.number >= 0 ? static_cast<size_t>(c.number) : i);
}

std::string ip_adapter_unit_name(const IpAdapterParams& u, size_t i) {
  if (u.number >= 0) return "ControlNet " + std::to_string(u.number) + " (IP-Adapter)";
  return "IP-Adapter " + std::to_string(i);
}

namespace {

[[noreturn]] void bad(const std::string& message_template) {
  throw ParameterError(message_template);
}

void validate_control(const ControlParams& c, size_t i) {
  const std::string who = control_unit_name(c, i) + ": ";
  if (c.model.empty()) bad(who + "no model ({control_model}, one per control image)");
  if (!(c.weight >= 0 && c.weight <= 10)) bad(who + "{control_weight} must be between 0 and 10");
  if (!(c.guidance_start >= 0 && c.guidance_start <= 1) || !(c.guidance_end >= 0 && c.guidance_end <= 1))
    bad(who + "{control_start} and {control_end} must be between 0 and 1");
  if (c.guidance_start > c.guidance_end) bad(who + "{control_start} is after {control_end}");
  const ControlPreprocessor* pre = find_control_preprocessor(c.preprocess);
  if (!pre)
    bad(who + "unknown preprocessor '" + Error::literal(c.preprocess) +
        "' ({control_preprocess}: " + control_preprocessor_names() + ")");
  if (pre->needs_annotator && c.annotator_model.empty())
    bad(who + "preprocessor " + pre->name + " runs a network: give its file with {annotator_model}");
  // Never ignored in silence: a file meant for another unit (the i-th value belongs to the i-th unit).
  if (!pre->needs_annotator && !c.annotator_model.empty())
    bad(who + "preprocessor " + pre->name + " runs no network, yet {annotator_model} gives it " +
        Error::literal(c.annotator_model) +
        " (the i-th {annotator_model} belongs to the i-th {control_image}; an empty one skips a unit)");
  if (pre->uses_resolution &&
      !(c.resolution >= kMinProcessorResolution && c.resolution <= kMaxProcessorResolution))
    bad(who + "{control_resolution} must be between " + std::to_string(kMinProcessorResolution) + " and " +
        std::to_string(kMaxProcessorResolution) + ", got " + std::to_string(c.resolution));
  if (c.canny_low < 0 || c.canny_high < 0 || c.canny_low > 255 * 8 || c.canny_high > 255 * 8)
    bad(who + "Canny thresholds ({canny_low}, {canny_high}) must be between 0 and 2040");
}

void validate_reference(const ReferenceParams& r) {
  if (!(r.style_fidelity >= 0 && r.style_fidelity <= 1))
    bad("{style_fidelity} must be between 0 and 1, got " + format_number(r.style_fidelity));
  if (!(r.attn_weight >= 0 && r.attn_weight <= 100))
    bad("{reference_attn_weight} must be between 0 and 100, got " + format_number(r.attn_weight));
  if (!(r.adain_weight >= 0 && r.adain_weight <= 100))
    bad("{reference_adain_weight} must be between 0 and 100, got " + format_number(r.adain_weight));
}

void validate_ip_adapter(const IpAdapterParams& u, size_t i) {
  const std::string who = ip_adapter_unit_name(u, i) + ": ";
  if (u.model.empty()) bad(who + "no adapter file ({ip_adapter})");
  if (!(u.scale >= 0 && u.scale <= 10))
    bad(who + "{ip_adapter_scale} must be between 0 and 10, got " + format_number(u.scale));
  ip_adapter_mode_layers(u.mode, false);  // throws for an unknown mode
  if (u.layers.empty()) return;
  if (u.mode != "all") bad(who + "give {ip_adapter_mode} or {ip_adapter_layers}, not both");
  parse_ip_adapter_layers(u.layers);
}

// A prompt that is not UTF-8 (the tokenizer would fail later without saying which text).
[[noreturn]] void bad_text(const char* param, const std::string& text, size_t at) {
  bad(std::string(param) + " is not valid UTF-8 text (" +
      (at == text.size() ? std::string("a character cut short at the end")
                         : "byte " + std::to_string(at) + " of " + std::to_string(text.size())) +
      ")");
}

// "{name}", the template of a parameter's name in messages.
std::string param(const char* name) {
  std::string s = "{";
  s += name;
  s += "}";
  return s;
}

void validate_sdxl(const GenerationParams& p) {
  for (auto [name, v] : {std::pair{"original_size", &p.original_size},
                         {"target_size", &p.target_size},
                         {"negative_original_size", &p.negative_original_size},
                         {"negative_target_size", &p.negative_target_size}})
    if (*v && !(v->value().x >= 1 && v->value().y >= 1 && v->value().x <= 65536 && v->value().y <= 65536))
      bad(param(name) + " must be a width and height between 1 and 65536, got " +
          std::to_string(v->value().x) + "," + std::to_string(v->value().y));
  for (auto [name, v] : {std::pair{"crops_top_left", &p.crops_top_left},
                         {"negative_crops_top_left", &p.negative_crops_top_left}})
    if (!(v->x >= 0 && v->y >= 0 && v->x <= 65536 && v->y <= 65536))
      bad(param(name) + " must be two offsets between 0 and 65536, got " + std::to_string(v->x) + "," +
          std::to_string(v->y));
  for (auto [name, v] : {std::pair{"aesthetic_score", p.aesthetic_score},
                         {"negative_aesthetic_score", p.negative_aesthetic_score}})
    if (!(v >= 0 && v <= 10)) bad(param(name) + " must be between 0 and 10, got " + format_number(v));
  if (!(p.refiner_switch_at >= 0 && p.refiner_switch_at <= 1))
    bad("{refiner_switch_at} must be between 0 and 1, got " + format_number(p.refiner_switch_at));
}

}  // namespace

bool GenerationParams::has_sdxl_settings() const {
  return original_size || target_size || negative_original_size || negative_target_size ||
         !(crops_top_left == PairXY{}) || !(negative_crops_top_left == PairXY{}) || aesthetic_score != 6.0 ||
         negative_aesthetic_score != 2.5 || !refiner.empty();
}

void GenerationParams::validate() const {
  for (auto [param, text] : {std::pair{"{prompt}", &prompt}, {"{negative_prompt}", &negative_prompt}})
    if (text->size() > kMaxPromptBytes)
      bad(std::string(param) + " is " + std::to_string(text->size()) + " bytes long, more than the " +
          std::to_string(kMaxPromptBytes) + " a prompt may have");
  for (auto [param, text] : {std::pair{"{prompt}", &prompt}, {"{negative_prompt}", &negative_prompt}})
    if (const size_t bad = invalid_utf8_at(*text); bad != std::string::npos) bad_text(param, *text, bad);
  if (!(strength >= 0.0 && strength <= 1.0))
    bad("{strength} must be between 0 and 1, got " + format_number(strength));
  if (steps < 1) bad("{steps} must be at least 1, got " + std::to_string(steps));
  if (steps > 1000) bad("{steps} must be at most 1000, got " + std::to_string(steps));
  if (std::isnan(cfg_scale)) bad("{cfg_scale} must be a number");
  if (!(cfg_scale >= 0.0)) bad("{cfg_scale} must not be negative, got " + format_number(cfg_scale));
  if (cfg_scale > 100.0) bad("{cfg_scale} " + format_number(cfg_scale) + " is too large (at most 100)");
  for (auto [param, v] : {std::pair{"{width}", width}, {"{height}", height}}) {
    const std::string name = param;
    if (v < 0) bad(name + " must be a positive number of pixels, got " + std::to_string(v));
    if (v > kMaxGenerationSide)
      bad(name + " " + std::to_string(v) + " is too large (at most " + std::to_string(kMaxGenerationSide) +
          ")");
  }
  if (width % 8 != 0 || height % 8 != 0)
    bad("{width} and {height} must be multiples of 8, got " + std::to_string(width) + "x" +
        std::to_string(height));
  if (clip_skip < 1 || clip_skip > 12)
    bad("{clip_skip} must be between 1 and 12, got " + std::to_string(clip_skip));
  if (batch_count < 1 || batch_count > 10000) bad("{batch_count} must be between 1 and 10000");
  if (batch_size < 1 || batch_size > 64) bad("{batch_size} must be between 1 and 64");
  if (mask_options.blur < 0 || mask_options.blur > 256)
    bad("{mask_blur} must be between 0 and 256, got " + std::to_string(mask_options.blur));
  if (mask_options.padding < 0 || mask_options.padding > kMaxGenerationSide)
    bad("{padding} must be between 0 and " + std::to_string(kMaxGenerationSide) + ", got " +
        std::to_string(mask_options.padding));
  for (size_t i = 0; i < controls.size(); ++i) validate_control(controls[i], i);
  if (reference) validate_reference(*reference);
  for (size_t i = 0; i < ip_adapters.size(); ++i) validate_ip_adapter(ip_adapters[i], i);
  validate_sdxl(*this);
  for (const LoraParams& l : loras) {
    if (l.file.empty()) bad("{lora}: no file given");
    if (!std::isfinite(l.te_multiplier) || !std::isfinite(l.unet_multiplier))
      bad("{lora} " + Error::literal(l.file) + ": the multiplier must be a finite number");
    if (std::fabs(l.te_multiplier) > kMaxLoraMultiplier || std::fabs(l.unet_multiplier) > kMaxLoraMultiplier)
      bad("{lora} " + Error::literal(l.file) + ": the multiplier is out of range (-" +
          std::to_string(static_cast<int>(kMaxLoraMultiplier)) + " .. " +
          std::to_string(static_cast<int>(kMaxLoraMultiplier)) + ")");
  }
  if (seed < -1 || seed > kMaxSeed)
    bad("{seed} must be -1 (random) or between 0 and " + std::to_string(kMaxSeed));
  // Image k uses seed + k, which must stay a seed too (it is what the picture's parameters text records).
  const int64_t images = static_cast<int64_t>(batch_size) * batch_count;
  if (seed >= 0 && seed + images - 1 > kMaxSeed)
    bad("{seed} " + std::to_string(seed) + " with " + std::to_string(images) + " images goes past " +
        std::to_string(kMaxSeed) + " (image k uses seed + k)");
}

void resolve_model_files(GenerationParams& p, bool model) {
  const auto resolve = [&](std::string& value, ModelKind kind, const char* param) {
    value = resolve_model_file(kind, value, p.models_dir, param);
  };
  if (model) resolve(p.model, ModelKind::Checkpoint, "model");
  resolve(p.vae, ModelKind::Vae, "vae");
  resolve(p.refiner, ModelKind::Checkpoint, "refiner");
  for (size_t unit = 0; unit < p.controls.size(); ++unit) {
    ControlParams& c = p.controls[unit];
    resolve(c.model, ModelKind::ControlNet, "control_model");
    // The annotator by name, or its preprocessor's usual file in the annotator folders (an unknown
    // preprocessor is left for validate() to report).
    if (find_control_preprocessor(c.preprocess)) {
      try {
        c.annotator_model = resolve_annotator_model(c.preprocess, c.annotator_model, p.models_dir).string();
      } catch (const ParameterError& e) {  // which unit it is about
        throw ParameterError(Error::literal(control_unit_name(c, unit)) + ": " + e.message_template());
      }
    }
  }
  for (IpAdapterParams& u : p.ip_adapters) {
    resolve(u.model, ModelKind::IpAdapter, "ip_adapter");
    resolve(u.image_encoder, ModelKind::ImageEncoder, "image_encoder");
  }
  for (LoraParams& l : p.loras) resolve(l.file, ModelKind::Lora, "lora");
}

}  // namespace i2i
