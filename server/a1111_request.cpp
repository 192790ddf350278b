#include "server/a1111_request.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <semaphore>

#include "io/image.h"
#include "io/image_limits.h"
#include "preprocess/control_preprocessors.h"  // (the processor resolution range only)
#include "sampling/scheduler.h"
#include "server/base64.h"
#include "server/http_error.h"

namespace i2i::server {
namespace {
using nlohmann::json;

// A1111 1.10's defaults for the fields i2i reads or reports (modules/processing.py, modules/api/models.py).
json common_defaults() {
  return {{"prompt", ""},
          {"negative_prompt", ""},
          {"styles", nullptr},
          {"seed", -1},
          {"subseed", -1},
          {"subseed_strength", 0},
          {"seed_resize_from_h", -1},
          {"seed_resize_from_w", -1},
          {"sampler_name", nullptr},
          {"scheduler", nullptr},
          {"batch_size", 1},
          {"n_iter", 1},
          {"steps", 50},
          {"cfg_scale", 7.0},
          {"width", 512},
          {"height", 512},
          {"restore_faces", nullptr},
          {"tiling", nullptr},
          {"do_not_save_samples", false},
          {"do_not_save_grid", false},
          {"eta", nullptr},
          {"s_min_uncond", nullptr},
          {"s_churn", nullptr},
          {"s_tmax", nullptr},
          {"s_tmin", nullptr},
          {"s_noise", nullptr},
          {"override_settings", nullptr},
          {"override_settings_restore_afterwards", true},
          {"refiner_checkpoint", nullptr},
          {"refiner_switch_at", nullptr},
          {"disable_extra_networks", false},
          {"comments", nullptr},
          {"sampler_index", "Euler"},
          {"script_name", nullptr},
          {"script_args", json::array()},
          {"send_images", true},
          {"save_images", false},
          {"alwayson_scripts", json::object()},
          {"infotext", nullptr}};
}

json txt2img_defaults() {
  json d = common_defaults();
  d.update({{"denoising_strength", nullptr},
            {"enable_hr", false},
            {"firstphase_width", 0},
            {"firstphase_height", 0},
            {"hr_scale", 2.0},
            {"hr_upscaler", nullptr},
            {"hr_second_pass_steps", 0},
            {"hr_resize_x", 0},
            {"hr_resize_y", 0},
            {"hr_checkpoint_name", nullptr},
            {"hr_sampler_name", nullptr},
            {"hr_scheduler", nullptr},
            {"hr_prompt", ""},
            {"hr_negative_prompt", ""},
            {"firstpass_image", nullptr}});
  return d;
}

json img2img_defaults() {
  json d = common_defaults();
  d.update({{"init_images", nullptr},
            {"resize_mode", 0},
            {"image_cfg_scale", nullptr},
            {"mask", nullptr},
            {"mask_blur_x", 4},
            {"mask_blur_y", 4},
            {"mask_blur", nullptr},
            {"mask_round", true},
            {"inpainting_fill", 0},
            {"inpaint_full_res", true},
            {"inpaint_full_res_padding", 0},
            {"inpainting_mask_invert", 0},
            {"initial_noise_multiplier", nullptr},
            {"latent_mask", nullptr},
            {"force_task_id", nullptr},
            {"include_init_images", false},
            {"denoising_strength", 0.75}});
  return d;
}

// A number written as text, as a JSON number is: [+-]digits[.digits][e[+-]digits] (also "5." and ".5"), and
// finite. No hex, spaces, "inf" or "nan" (which strtod alone would take).
bool decimal_text(const std::string& s, double& out) {
  size_t i = 0, digits = 0;
  auto run = [&] {
    size_t n = 0;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i, ++n;
    return n;
  };
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
  digits += run();
  if (i < s.size() && s[i] == '.') {
    ++i;
    digits += run();
  }
  if (digits == 0) return false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    if (run() == 0) return false;
  }
  if (i != s.size()) return false;
  char* end = nullptr;
  out = std::strtod(s.c_str(), &end);
  return end == s.c_str() + s.size() && std::isfinite(out);
}

// Reads typed fields of one JSON object as pydantic would coerce them, collecting problems with their loc.
class FieldReader {
 public:
  FieldReader(const json& object, json loc_prefix, json& problems)
      : obj_(object), prefix_(std::move(loc_prefix)), problems_(problems) {}

  const json* raw(const std::string& key) const {
    auto it = obj_.find(key);
    return it == obj_.end() || it->is_null() ? nullptr : &*it;
  }
  json loc(const json& key) const {
    json l = prefix_;
    l.push_back(key);
    return l;
  }
  void problem(const std::string& key, const std::string& msg, const std::string& type = "value_error") {
    problems_.push_back(field_problem(loc(key), msg, type));
  }

  std::string str(const std::string& key, const std::string& fallback) {
    const json* v = raw(key);
    if (!v) return fallback;
    if (v->is_string()) return v->get<std::string>();
    if (v->is_number()) return v->dump();
    problem(key, "str type expected", "type_error.str");
    return fallback;
  }
  double number(const std::string& key, double fallback) {
    const json* v = raw(key);
    if (!v) return fallback;
    if (v->is_number()) {
      const double d = v->get<double>();
      if (std::isfinite(d)) return d;
    } else if (v->is_string()) {
      double d = 0;
      if (decimal_text(v->get_ref<const std::string&>(), d)) return d;
    }
    // (true / false, "0x10", " 5", "12abc", "inf": not numbers)
    problem(key, "value is not a valid float", "type_error.float");
    return fallback;
  }
  int64_t integer(const std::string& key, int64_t fallback) {
    const json* v = raw(key);
    if (!v) return fallback;
    double d = 0;
    bool ok = false;
    // (nlohmann keeps 2^63 .. 2^64-1 unsigned: get<int64_t> would wrap them to negative numbers.)
    if (v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
      problem(key, "value is not a valid integer", "type_error.integer");
      return fallback;
    }
    if (v->is_number_integer()) return v->get<int64_t>();
    if (v->is_number() || v->is_string()) {
      json tmp;
      FieldReader sub(obj_, prefix_, tmp);
      d = sub.number(key, 0);
      ok = tmp.empty() && d == std::floor(d) && std::fabs(d) < 9.2e18;
    }
    // (true / false and 3.7 are not integers)
    if (ok) return static_cast<int64_t>(d);
    problem(key, "value is not a valid integer", "type_error.integer");
    return fallback;
  }
  // An int field that must fit in `int` and lie in [lo, hi].
  int bounded(const std::string& key, int fallback, int64_t lo, int64_t hi) {
    const int64_t v = integer(key, fallback);
    if (v < lo || v > hi) {
      problem(key, "ensure this value is between " + std::to_string(lo) + " and " + std::to_string(hi) +
                       ", got " + std::to_string(v));
      return fallback;
    }
    return static_cast<int>(v);
  }
  bool boolean(const std::string& key, bool fallback) {
    const json* v = raw(key);
    if (!v) return fallback;
    if (v->is_boolean()) return v->get<bool>();
    if (v->is_number_integer() && (v->get<int64_t>() == 0 || v->get<int64_t>() == 1))
      return v->get<int64_t>() == 1;
    if (v->is_string()) {
      std::string s = v->get<std::string>();
      std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
      if (s == "true" || s == "1" || s == "yes" || s == "on") return true;
      if (s == "false" || s == "0" || s == "no" || s == "off") return false;
    }
    problem(key, "value could not be parsed to a boolean", "type_error.bool");
    return fallback;
  }

 private:
  const json& obj_;
  json prefix_;
  json& problems_;
};

// At most this many pictures are decoded at once, each at most --max-pixels (checked from its header before
// any pixel memory): many concurrent requests take at most this many times the largest picture's memory, and
// one slow picture does not hold up the others.
constexpr std::ptrdiff_t kConcurrentDecodes = 4;
std::counting_semaphore<kConcurrentDecodes>& decode_slots() {
  static std::counting_semaphore<kConcurrentDecodes> slots(kConcurrentDecodes);
  return slots;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// Whether a known-but-unsupported field is set to something other than "off" (null, false, 0, "", [], {}
// or the value A1111 treats as its default).
bool is_set(const json* v, const json& neutral = nullptr) {
  if (!v || v->is_null()) return false;
  if (!neutral.is_null() && *v == neutral) return false;
  if (v->is_boolean()) return v->get<bool>();
  if (v->is_number()) return v->get<double>() != 0;
  if (v->is_string() || v->is_array() || v->is_object()) return !v->empty();
  return true;
}

// The IP-Adapter preprocessors of the ControlNet extension that i2i runs (the CLIP ViT-H / bigG encoders);
// which encoder is used is the adapter's (found beside it), as the CLI does.
bool is_ip_adapter_module(const std::string& module) {
  return module == "ip-adapter_clip_sd15" || module == "ip-adapter_clip_h" ||
         module == "ip-adapter_clip_sdxl" || module == "ip-adapter_clip_sdxl_plus_vith";
}
bool is_reference_module(const std::string& module) {
  return module == "reference_only" || module == "reference_adain" || module == "reference_adain+attn";
}
const char* const kUnitModules =
    "none, canny, depth_anything_v2, openpose, lineart (lineart_realistic), lineart_coarse, hed "
    "(softedge_hed), hed_safe (softedge_hedsafe), reference_only, reference_adain, reference_adain+attn, "
    "ip-adapter_clip_sd15, ip-adapter_clip_h, ip-adapter_clip_sdxl, ip-adapter_clip_sdxl_plus_vith";

// The extension's annotator modules i2i runs: the name its API lists by default, the name its UI shows
// (alias_names; both are accepted), and the preprocessor (control_preprocessors.h) it is.
struct AnnotatorModule {
  const char* name;
  const char* alias;
  const char* preprocessor;
};
constexpr AnnotatorModule kAnnotatorModules[] = {
    {"depth_anything_v2", "depth_anything_v2", "depth_anything_v2"},
    {"openpose", "openpose", "openpose"},
    {"lineart", "lineart_realistic", "lineart_realistic"},
    {"lineart_coarse", "lineart_coarse", "lineart_coarse"},
    {"hed", "softedge_hed", "softedge_hed"},
    {"hed_safe", "softedge_hedsafe", "softedge_hedsafe"},
};
const AnnotatorModule* find_annotator_module(const std::string& module) {
  for (const AnnotatorModule& m : kAnnotatorModules)
    if (module == m.name || module == m.alias) return &m;
  return nullptr;
}

// A1111's pixel perfect: the processor resolution that maps the picture's short side onto the generation
// (sd-webui-controlnet's pixel_perfect_resolution; "Resize and Fill" fits the picture inside).
int pixel_perfect_resolution(const Image& picture, int width, int height, ResizeMode mode) {
  const double k0 = static_cast<double>(height) / picture.height,
               k1 = static_cast<double>(width) / picture.width;
  const double side = std::min(picture.height, picture.width);
  const double estimate = (mode == ResizeMode::ResizeAndFill ? std::min(k0, k1) : std::max(k0, k1)) * side;
  return static_cast<int>(std::nearbyint(estimate));
}

// A unit's control_mode as the extension's ControlMode: 0 "Balanced", 1 "My prompt is more important", 2
// "ControlNet is more important" (names, numbers, or sdwebuiapi's one-element list); -1 unknown.
int control_mode_index(const json& value) {
  const json& m = value.is_array() && value.size() == 1 ? value[0] : value;
  const std::string v = m.is_string() ? lower(m.get<std::string>()) : m.dump();
  if (v == "0" || v == "balanced") return 0;
  if (v == "1" || v == "my prompt is more important") return 1;
  if (v == "2" || v == "controlnet is more important") return 2;
  return -1;
}

// The ControlNet units of alwayson_scripts ("controlnet" or "ControlNet", any case).
void map_controlnet_units(const json& units, const json& loc_prefix, A1111Request& out,
                          const ModelCatalog& catalog, const RequestLimits& limits, json& problems) {
  if (!units.is_array()) {
    problems.push_back(field_problem(loc_prefix, "value is not a valid list", "type_error.list"));
    return;
  }
  GenerationParams& p = out.request.params;
  if (units.size() > kMaxControlNetUnits) {
    problems.push_back(field_problem(loc_prefix, "at most " + std::to_string(kMaxControlNetUnits) +
                                                     " ControlNet units, got " +
                                                     std::to_string(units.size())));
    return;
  }
  for (size_t i = 0; i < units.size(); ++i) {
    json loc = loc_prefix;
    loc.push_back(i);
    const json& u = units[i];
    if (!u.is_object()) {
      problems.push_back(field_problem(loc, "value is not a valid dict", "type_error.dict"));
      continue;
    }
    FieldReader f(u, loc, problems);
    if (!f.boolean("enabled", true)) continue;
    const std::string tag = "controlnet[" + std::to_string(i) + "]";
    std::string module = lower(f.str("module", "none"));
    const std::string model = f.str("model", "None");
    const bool ip_adapter = is_ip_adapter_module(module), reference = is_reference_module(module);
    const AnnotatorModule* annotator = find_annotator_module(module);
    if (!ip_adapter && !reference && !annotator && module != "none" && module != "canny") {
      f.problem("module", "ControlNet module '" + module + "' is not supported (" + kUnitModules + ")");
      continue;
    }
    std::string annotator_file;
    if (annotator) {
      const auto file = catalog.find_annotator(annotator->preprocessor);
      if (!file) {
        f.problem("module", "ControlNet module '" + module +
                                "' needs its annotator file in the models folder's annotators/ (GET "
                                "/controlnet/module_list lists the modules this server runs)");
        continue;
      }
      annotator_file = file->string();
    }
    const bool no_model = model == "None" || model.empty();
    if (reference) {
      // (a preprocessor-only unit: its model is not used)
      if (!no_model) out.ignored.push_back(tag + ".model (a reference unit uses none)");
      if (p.reference) {
        f.problem("module", "one reference unit per request");
        continue;
      }
    } else if (no_model) {
      if (ip_adapter) {
        f.problem("model", "an IP-Adapter unit names its adapter (GET /controlnet/model_list)");
        continue;
      }
      out.ignored.push_back(tag + " (no model)");
      continue;
    }
    std::string model_path;
    if (ip_adapter) {
      const auto found = catalog.find_ip_adapter(model);
      if (!found) throw http_error(404, "IP-Adapter model not found: " + model);
      model_path = found->path.string();
    } else if (!reference) {
      const auto found = catalog.find_controlnet(model);
      if (!found) throw http_error(404, "ControlNet model not found: " + model);
      model_path = found->path.string();
    }
    const double weight = f.number("weight", 1.0);
    const double guidance_start = f.number("guidance_start", 0.0);
    const double guidance_end = f.number("guidance_end", 1.0);
    // (checked here, so that a 422 names the unit's field rather than the library's parameter)
    const int max_weight = reference ? 100 : 10;  // (the library's ranges)
    if (!(weight >= 0 && weight <= max_weight))
      f.problem("weight", "ensure this value is between 0 and " + std::to_string(max_weight));
    if (!(guidance_start >= 0 && guidance_start <= 1))
      f.problem("guidance_start", "ensure this value is between 0 and 1");
    if (!(guidance_end >= 0 && guidance_end <= 1))
      f.problem("guidance_end", "ensure this value is between 0 and 1");
    if (guidance_start > guidance_end) f.problem("guidance_start", "guidance_start is after guidance_end");
    int control_mode = 0;
    if (const json* cm = f.raw("control_mode")) {
      control_mode = control_mode_index(*cm);
      if (control_mode < 0)
        f.problem("control_mode",
                  "control_mode is 0 \"Balanced\", 1 \"My prompt is more important\" or 2 \"ControlNet is "
                  "more important\"");
    }
    // The picture: `image` (a string, or {"image": ..., "mask": ...}) or the legacy `input_image`; none in
    // img2img: the init image, as the extension does.
    const json* img = f.raw("image");
    json img_loc = f.loc("image");
    if (!img) {
      img = f.raw("input_image");
      img_loc = f.loc("input_image");
    }
    if (img && img->is_object()) {
      if (is_set(img->contains("mask") ? &(*img)["mask"] : nullptr))
        out.ignored.push_back(tag + ".image.mask");
      img_loc.push_back("image");
      img = img->contains("image") && !(*img)["image"].is_null() ? &(*img)["image"] : nullptr;
    }
    std::optional<Image> picture;
    bool from_init = false;
    if (img) {
      picture = decode_request_image(*img, img_loc, limits.max_pixels);
    } else if (out.request.images.init) {
      // (not copied here: the worker gives the unit the init picture when the job runs)
      from_init = true;
    } else {
      f.problem("image", "a ControlNet unit needs an image in txt2img");
      continue;
    }
    // What the unit asks and i2i does not do.
    if (const json* rm = f.raw("resize_mode")) {
      const std::string v = rm->is_string() ? lower(rm->get<std::string>()) : rm->dump();
      // Control images are resized as the generation; a reference picture is always just resized.
      const int generation = reference ? 0 : static_cast<int>(p.resize_mode);
      const char* const names[] = {"just resize", "crop and resize", "resize and fill"};
      // (The extension's older names: "Scale to Fit (Inner Fit)" is crop and resize, "Envelope (Outer Fit)"
      // resize and fill.)
      const bool same =
          v == std::to_string(generation) || v == names[generation] ||
          (generation == 1 && (v == "inner fit (scale to fit)" || v == "scale to fit (inner fit)")) ||
          (generation == 2 && (v == "outer fit (shrink to fit)" || v == "envelope (outer fit)"));
      if (!same)
        out.ignored.push_back(tag + (reference
                                         ? ".resize_mode (a reference picture is just resized)"
                                         : ".resize_mode (control images are resized as the generation)"));
    }
    if (!annotator && f.boolean("pixel_perfect", false)) out.ignored.push_back(tag + ".pixel_perfect");
    if (f.boolean("guessmode", false)) out.ignored.push_back(tag + ".guessmode");
    if (control_mode > 0 && !reference) out.ignored.push_back(tag + ".control_mode");
    if (module == "canny") {  // (i2i's Canny runs on the control image at the generation size)
      const double res = f.number("processor_res", -1);
      if (res != -1 && res != 512) out.ignored.push_back(tag + ".processor_res");
    }
    // An annotator's processor resolution: processor_res (-1: the module's default), or pixel perfect's.
    int resolution = 512;
    if (annotator) {
      resolution = ControlParams{}.resolution;  // (A1111's default Processor Res, 512 for every module)
      const int64_t res = f.integer("processor_res", -1);
      if (res != -1 && (res < kMinProcessorResolution || res > kMaxProcessorResolution))
        f.problem("processor_res", "ensure this value is between " + std::to_string(kMinProcessorResolution) +
                                       " and " + std::to_string(kMaxProcessorResolution) + ", or -1");
      else if (res != -1)
        resolution = static_cast<int>(res);
      if (f.boolean("pixel_perfect", false)) {
        const Image& source = picture ? *picture : *out.request.images.init;
        // (within the range i2i's preprocessors take)
        resolution = std::clamp(pixel_perfect_resolution(source, p.width, p.height, p.resize_mode),
                                kMinProcessorResolution, kMaxProcessorResolution);
      }
    }

    if (ip_adapter || reference) {
      // i2i runs these units over the whole run.
      if (guidance_start != 0 || guidance_end != 1)
        out.ignored.push_back(tag + ".guidance_start/guidance_end (applied over every step)");
    }
    if (ip_adapter) {
      IpAdapterParams a;
      a.number = static_cast<int>(i);  // (messages name the unit by its place in the request's list)
      a.model = model_path;
      a.scale = weight;
      p.ip_adapters.push_back(a);
      out.request.images.ip_adapters.push_back(std::move(picture));
      out.ip_adapter_from_init.push_back(from_init);
    } else if (reference) {
      ReferenceParams r;
      r.mode = module == "reference_only"    ? ReferenceMode::Attn
               : module == "reference_adain" ? ReferenceMode::Adain
                                             : ReferenceMode::AdainAttn;
      if (r.mode != ReferenceMode::Adain) r.attn_weight = weight;
      if (r.mode != ReferenceMode::Attn) r.adain_weight = weight;
      const double threshold_a = f.number("threshold_a", -1);
      r.style_fidelity = threshold_a == -1 ? 0.5 : std::clamp(threshold_a, 0.0, 1.0);
      if (control_mode == 1) r.style_fidelity = 0;  // (the extension's soft injection)
      if (control_mode == 2) r.style_fidelity = 1;  // (its CFG injection)
      p.reference = r;
      out.request.images.reference = std::move(picture);
      out.reference_from_init = from_init;
    } else {
      ControlParams c;
      c.number = static_cast<int>(i);  // (messages name the unit by its place in the request's list)
      c.preprocess = annotator ? annotator->preprocessor : module;
      c.annotator_model = annotator_file;
      c.resolution = resolution;
      c.model = model_path;
      c.weight = weight;
      c.guidance_start = guidance_start;
      c.guidance_end = guidance_end;
      if (module == "canny") {
        const double lo = f.number("threshold_a", -1), hi = f.number("threshold_b", -1);
        if (lo >= 0) c.canny_low = static_cast<int>(std::lround(std::min(lo, 255.0)));
        if (hi >= 0) c.canny_high = static_cast<int>(std::lround(std::min(hi, 255.0)));
      }
      p.controls.push_back(c);
      out.request.images.controls.push_back(std::move(picture));
      out.control_from_init.push_back(from_init);
    }
  }
}

}  // namespace

json controlnet_module_list(const ModelCatalog& catalog, bool alias_names) {
  json modules = json::array(), detail = json::object();
  auto add = [&](const std::string& name, json sliders) {
    modules.push_back(name);
    detail[name] = {{"model_free", is_reference_module(name)}, {"sliders", std::move(sliders)}};
  };
  add("none", json::array());
  add("canny", json::array({{{"name", "Low Threshold"}, {"value", 100}, {"min", 1}, {"max", 255}},
                            {{"name", "High Threshold"}, {"value", 200}, {"min", 1}, {"max", 255}}}));
  // The annotator modules whose file is in the models folder.
  for (const AnnotatorModule& m : kAnnotatorModules)
    if (catalog.find_annotator(m.preprocessor))
      add(alias_names ? m.alias : m.name,
          json::array({{{"name", "Preprocessor Resolution"}, {"value", 512}, {"min", 64}, {"max", 2048}}}));
  for (const char* m : {"reference_only", "reference_adain", "reference_adain+attn"})
    add(m, json::array({{{"name", "Style Fidelity (only for \"Balanced\" mode)"},
                         {"value", 0.5},
                         {"min", 0},
                         {"max", 1},
                         {"step", 0.01}}}));
  for (const char* m : {"ip-adapter_clip_sd15", "ip-adapter_clip_h", "ip-adapter_clip_sdxl",
                        "ip-adapter_clip_sdxl_plus_vith"})
    add(m, json::array());
  return {{"module_list", modules}, {"module_detail", detail}};
}

Image decode_request_image(const json& value, const json& loc, int64_t max_pixels) {
  if (!value.is_string()) throw validation_error(loc, "expected a base64 picture (string)");
  const std::string& text = value.get_ref<const std::string&>();
  const auto bytes = base64_decode(strip_data_url(text));
  if (!bytes || bytes->empty()) throw validation_error(loc, "not base64 data (plain or a data: URL)");
  return decode_request_bytes(*bytes, loc, max_pixels);
}

Image decode_request_bytes(const std::vector<uint8_t>& bytes, const json& loc, int64_t max_pixels) {
  if (bytes.empty()) throw validation_error(loc, "an empty file");
  std::string where;
  for (const auto& part : loc) {
    if (!where.empty()) where.push_back('.');
    where.append(part.is_string() ? part.get<std::string>() : part.dump());
  }
  // A PNG's size is checked from its header before anything is decoded (a small file may hold a huge
  // picture); other formats are bounded by the decoder's own limit, then checked below.
  const std::vector<uint8_t>& b = bytes;
  if (b.size() >= 24 && b[0] == 0x89 && b[1] == 'P' && b[2] == 'N' && b[3] == 'G') {
    auto be32 = [&b](size_t at) {
      return (uint32_t{b[at]} << 24) | (uint32_t{b[at + 1]} << 16) | (uint32_t{b[at + 2]} << 8) | b[at + 3];
    };
    const uint64_t w = be32(16), h = be32(20);
    if (w * h > static_cast<uint64_t>(max_pixels))
      throw validation_error(loc, where + ": a " + std::to_string(w) + "x" + std::to_string(h) +
                                      " PNG is more than the server's --max-pixels " +
                                      std::to_string(max_pixels));
  }
  Image img;
  decode_slots().acquire();
  try {
    img = decode_image(bytes.data(), bytes.size(), where, max_pixels);
  } catch (const std::exception& e) {
    decode_slots().release();
    throw validation_error(loc, e.what());
  }
  decode_slots().release();
  if (static_cast<int64_t>(img.width) * img.height > max_pixels)
    throw validation_error(loc, where + ": " + std::to_string(img.width) + "x" + std::to_string(img.height) +
                                    " is more than the server's --max-pixels " + std::to_string(max_pixels));
  return img;
}

A1111Request map_a1111_request(const json& body, GenerationMode mode, const ModelCatalog& catalog,
                               const RequestLimits& limits) {
  if (!body.is_object()) throw validation_error(json::array({"body"}), "value is not a valid dict");
  A1111Request out;
  out.mode = mode;
  json problems = json::array();
  FieldReader f(body, json::array({"body"}), problems);
  const bool img2img = mode == GenerationMode::Img2Img;

  out.parameters = img2img ? img2img_defaults() : txt2img_defaults();
  for (auto it = body.begin(); it != body.end(); ++it) out.parameters[it.key()] = it.value();

  GenerationParams& p = out.request.params;
  p.prompt = f.str("prompt", "");
  p.negative_prompt = f.str("negative_prompt", "");
  if (p.prompt.size() > kMaxPromptBytes)
    f.problem("prompt", "longer than " + std::to_string(kMaxPromptBytes) + " bytes");
  if (p.negative_prompt.size() > kMaxPromptBytes)
    f.problem("negative_prompt", "longer than " + std::to_string(kMaxPromptBytes) + " bytes");
  // (The parameters text the pictures carry cannot hold a NUL: refused now, not after the run.)
  if (p.prompt.find('\0') != std::string::npos) f.problem("prompt", "contains a NUL character");
  if (p.negative_prompt.find('\0') != std::string::npos)
    f.problem("negative_prompt", "contains a NUL character");
  p.seed = f.integer("seed", -1);
  if (p.seed < -1 || p.seed > kMaxSeed) {
    f.problem("seed", "ensure this value is between -1 and " + std::to_string(kMaxSeed));
    p.seed = -1;
  }
  out.subseed = f.integer("subseed", -1);
  out.subseed_strength = f.number("subseed_strength", 0);
  p.steps = f.bounded("steps", 50, 1, 1000);
  p.cfg_scale = f.number("cfg_scale", 7.0);
  p.width = f.bounded("width", 512, 8, kMaxGenerationSide);
  p.height = f.bounded("height", 512, 8, kMaxGenerationSide);
  if (static_cast<int64_t>(p.width) * p.height > limits.max_pixels)
    f.problem("width", "width x height " + std::to_string(p.width) + "x" + std::to_string(p.height) +
                           " is more than the server's --max-pixels " + std::to_string(limits.max_pixels));
  p.batch_size = f.bounded("batch_size", 1, 1, 64);
  p.batch_count = f.bounded("n_iter", 1, 1, 1000);
  // One request's work: the pictures denoised at once (memory) and all the steps it runs (the worker's time).
  if (static_cast<int64_t>(p.batch_size) * p.width * p.height > limits.max_pixels)
    f.problem("batch_size", "batch_size x width x height " + std::to_string(p.batch_size) + "x" +
                                std::to_string(p.width) + "x" + std::to_string(p.height) +
                                " is more than the server's --max-pixels " +
                                std::to_string(limits.max_pixels));
  if (static_cast<int64_t>(p.batch_size) * p.batch_count * p.steps > kMaxStepsPerRequest)
    f.problem("n_iter", "n_iter x batch_size x steps " + std::to_string(p.batch_count) + "x" +
                            std::to_string(p.batch_size) + "x" + std::to_string(p.steps) + " is more than " +
                            std::to_string(kMaxStepsPerRequest) + " per request");
  const int clip_skip_default = 1;
  p.clip_skip = clip_skip_default;

  // Sampler: sampler_name, else sampler_index (default "Euler"), as api.py's validate_sampler_name.
  std::string sampler = f.str("sampler_name", "");
  if (sampler.empty()) sampler = f.str("sampler_index", "Euler");
  try {
    p.sampler = canonical_sampler_name(sampler);
  } catch (const std::exception&) {
    throw http_error(404, "Sampler not found: " + sampler);
  }
  const std::string scheduler = f.str("scheduler", "");
  p.schedule = lower(scheduler) == "automatic" ? "" : lower(scheduler);

  if (img2img) {
    p.strength = f.number("denoising_strength", 0.75);
    const int64_t rm = f.integer("resize_mode", 0);
    if (rm < 0 || rm > 3) {
      f.problem("resize_mode",
                "resize_mode is 0 (just resize), 1 (crop and resize), 2 (resize and fill) or 3");
    } else if (rm == 3) {
      out.ignored.push_back("resize_mode 3 (latent upscale: done as 0, just resize)");
    } else {
      p.resize_mode = static_cast<ResizeMode>(rm);
    }
    const json* init = f.raw("init_images");
    if (!init || !init->is_array() || init->empty()) {
      f.problem("init_images", "img2img needs init_images (a list of base64 pictures)");
    } else {
      json loc = f.loc("init_images");
      loc.push_back(0);
      out.request.images.init = decode_request_image((*init)[0], loc, limits.max_pixels);
      // A1111 uses the first init image for the whole batch unless there are batch_size of them.
      if (init->size() > 1) out.ignored.push_back("init_images[1:] (the first picture is used)");
    }
    if (const json* mask = f.raw("mask")) {
      out.request.images.mask = decode_request_image(*mask, f.loc("mask"), limits.max_pixels);
    }
    MaskOptions& m = p.mask_options;
    int blur_x = f.bounded("mask_blur_x", 4, 0, 256), blur_y = f.bounded("mask_blur_y", 4, 0, 256);
    if (f.raw("mask_blur")) blur_x = blur_y = f.bounded("mask_blur", 4, 0, 256);
    m.blur = blur_x;
    if (blur_y != blur_x) out.ignored.push_back("mask_blur_y (i2i blurs both axes by mask_blur_x)");
    const int64_t fill = f.integer("inpainting_fill", 0);
    static const MaskedContent kFill[] = {MaskedContent::Fill, MaskedContent::Original,
                                          MaskedContent::LatentNoise, MaskedContent::LatentNothing};
    if (fill < 0 || fill > 3)
      f.problem("inpainting_fill",
                "inpainting_fill is 0 (fill), 1 (original), 2 (latent noise) or 3 (latent nothing)");
    else
      m.content = kFill[fill];
    m.only_masked = f.boolean("inpaint_full_res", true);
    m.padding = f.bounded("inpaint_full_res_padding", 0, 0, 4096);
    // (0 / 1 in A1111's model; some clients send it as a boolean)
    const json* invert = f.raw("inpainting_mask_invert");
    m.invert =
        invert && invert->is_boolean() ? invert->get<bool>() : f.integer("inpainting_mask_invert", 0) != 0;
    out.include_init_images = f.boolean("include_init_images", false);
    if (!f.boolean("mask_round", true)) out.ignored.push_back("mask_round");
    // (image_cfg_scale only acts on instruct-pix2pix models, in A1111 too: not reported.)
    if (is_set(f.raw("latent_mask"))) out.ignored.push_back("latent_mask");
    if (is_set(f.raw("initial_noise_multiplier"), 1.0)) out.ignored.push_back("initial_noise_multiplier");
  } else {
    if (f.boolean("enable_hr", false)) out.ignored.push_back("enable_hr (hires fix)");
    if (is_set(f.raw("firstpass_image"))) out.ignored.push_back("firstpass_image");
  }

  // Known fields i2i does not honour.
  // eta: A1111's default is 1 for the ancestral samplers (what i2i does) and 0 for DDIM.
  if (const json* eta = f.raw("eta"); eta && !(*eta == json(p.sampler == "DDIM" ? 0.0 : 1.0)))
    out.ignored.push_back("eta");
  for (const char* k : {"restore_faces", "tiling", "styles", "s_min_uncond", "refiner_checkpoint",
                        "script_name", "disable_extra_networks", "infotext", "save_images"})
    if (is_set(f.raw(k))) out.ignored.push_back(k);
  if (is_set(f.raw("s_churn"))) out.ignored.push_back("s_churn");
  if (is_set(f.raw("s_tmin"))) out.ignored.push_back("s_tmin");
  if (is_set(f.raw("s_noise"), 1.0)) out.ignored.push_back("s_noise");
  if (const json* v = f.raw("s_tmax");
      v && v->is_number() && std::isfinite(v->get<double>()) && v->get<double>() != 0)
    out.ignored.push_back("s_tmax");
  if (out.subseed_strength != 0) out.ignored.push_back("subseed_strength");
  for (const char* k : {"seed_resize_from_h", "seed_resize_from_w"})
    if (f.integer(k, -1) > 0) out.ignored.push_back(k);
  out.send_images = f.boolean("send_images", true);

  if (const json* os = f.raw("override_settings")) {
    if (!os->is_object()) {
      f.problem("override_settings", "value is not a valid dict", "type_error.dict");
    } else {
      FieldReader o(*os, f.loc("override_settings"), problems);
      for (auto it = os->begin(); it != os->end(); ++it) {
        if (it.key() == "CLIP_stop_at_last_layers")
          p.clip_skip = o.bounded("CLIP_stop_at_last_layers", 1, 1, 12);
        else if (it.key() == "sd_model_checkpoint") {
          out.checkpoint = o.str("sd_model_checkpoint", "");
          // The checkpoint is used for this request only (A1111's default); keeping it is POST /options'.
          if (!f.boolean("override_settings_restore_afterwards", true))
            out.ignored.push_back("override_settings_restore_afterwards (use POST /sdapi/v1/options)");
        } else if (!it.value().is_null())
          out.ignored.push_back("override_settings." + it.key());
      }
    }
  }

  if (const json* scripts = f.raw("alwayson_scripts")) {
    if (!scripts->is_object()) {
      f.problem("alwayson_scripts", "value is not a valid dict", "type_error.dict");
    } else {
      for (auto it = scripts->begin(); it != scripts->end(); ++it) {
        if (lower(it.key()) != "controlnet") {
          if (is_set(&it.value())) out.ignored.push_back("alwayson_scripts." + it.key());
          continue;
        }
        json loc = f.loc("alwayson_scripts");
        loc.push_back(it.key());
        const json& script = it.value();
        if (!script.is_object() || !script.contains("args")) {
          problems.push_back(field_problem(loc, "expected {\"args\": [units]}"));
          continue;
        }
        loc.push_back("args");
        map_controlnet_units(script["args"], loc, out, catalog, limits, problems);
      }
    }
  }
  if (!problems.empty()) throw validation_error(problems);

  if (!out.include_init_images && img2img) {
    out.parameters["init_images"] = nullptr;
    out.parameters["mask"] = nullptr;
  }
  // LoRA and embedding names in the prompt are looked up in the server's models folder.
  out.request.params.models_dir = limits.models_dir;
  return out;
}

}  // namespace i2i::server
