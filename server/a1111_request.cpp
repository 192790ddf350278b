#include "server/a1111_request.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <semaphore>

#include "io/image.h"
#include "io/image_limits.h"
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
      const std::string s = v->get<std::string>();
      char* end = nullptr;
      const double d = std::strtod(s.c_str(), &end);
      if (!s.empty() && *end == '\0' && std::isfinite(d)) return d;
    } else if (v->is_boolean()) {
      return v->get<bool>() ? 1 : 0;
    }
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
    } else if (v->is_boolean()) {
      return v->get<bool>() ? 1 : 0;
    }
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
    if (model == "None" || model.empty()) {
      out.ignored.push_back(tag + " (no model)");
      continue;
    }
    ControlParams c;
    c.number = static_cast<int>(i);  // (messages name the unit by its place in the request's list)
    if (module == "none" || module == "canny") {
      c.preprocess = module;
    } else {
      f.problem("module", "ControlNet module '" + module + "' is not supported (none, canny)");
      continue;
    }
    const auto found = catalog.find_controlnet(model);
    if (!found) throw http_error(404, "ControlNet model not found: " + model);
    c.model = found->path.string();
    c.weight = f.number("weight", 1.0);
    c.guidance_start = f.number("guidance_start", 0.0);
    c.guidance_end = f.number("guidance_end", 1.0);
    if (module == "canny") {
      const double lo = f.number("threshold_a", -1), hi = f.number("threshold_b", -1);
      if (lo >= 0) c.canny_low = static_cast<int>(std::lround(std::min(lo, 255.0)));
      if (hi >= 0) c.canny_high = static_cast<int>(std::lround(std::min(hi, 255.0)));
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
    const json* rm = f.raw("resize_mode");
    if (rm) {
      const std::string v = rm->is_string() ? lower(rm->get<std::string>()) : rm->dump();
      const int generation = static_cast<int>(p.resize_mode);
      const char* const names[] = {"just resize", "crop and resize", "resize and fill"};
      // (The extension's older names: "Scale to Fit (Inner Fit)" is crop and resize, "Envelope (Outer Fit)"
      // resize and fill.)
      const bool same =
          v == std::to_string(generation) || v == names[generation] ||
          (generation == 1 && (v == "inner fit (scale to fit)" || v == "scale to fit (inner fit)")) ||
          (generation == 2 && (v == "outer fit (shrink to fit)" || v == "envelope (outer fit)"));
      if (!same) out.ignored.push_back(tag + ".resize_mode (control images are resized as the generation)");
    }
    if (f.boolean("pixel_perfect", false)) out.ignored.push_back(tag + ".pixel_perfect");
    if (f.boolean("guessmode", false)) out.ignored.push_back(tag + ".guessmode");
    if (const json* cm = f.raw("control_mode")) {
      // (sdwebuiapi sends ["Balanced"]: a Python tuple.)
      const json& m = cm->is_array() && cm->size() == 1 ? (*cm)[0] : *cm;
      const std::string v = m.is_string() ? lower(m.get<std::string>()) : m.dump();
      if (v != "0" && v != "balanced") out.ignored.push_back(tag + ".control_mode");
    }
    if (module == "canny") {
      const double res = f.number("processor_res", -1);
      if (res != -1 && res != 512) out.ignored.push_back(tag + ".processor_res");
    }
    p.controls.push_back(c);
    out.request.images.controls.push_back(std::move(picture));
    out.control_from_init.push_back(from_init);
  }
}

}  // namespace

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

A1111Request parse_a1111_request(const json& body, GenerationMode mode, const ModelCatalog& catalog,
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
    m.invert = f.integer("inpainting_mask_invert", 0) != 0;
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
  try {
    validate_request(out.request);
  } catch (const ParameterError& e) {
    // The library's parameter names as A1111's fields.
    std::string field;
    const std::string msg = e.render([&field](const std::string& name) {
      static const std::map<std::string, std::string> kFields = {{"strength", "denoising_strength"},
                                                                 {"schedule", "scheduler"},
                                                                 {"sampler", "sampler_name"},
                                                                 {"batch_count", "n_iter"},
                                                                 {"padding", "inpaint_full_res_padding"},
                                                                 {"control_image", "alwayson_scripts"},
                                                                 {"clip_skip", "override_settings"}};
      auto it = kFields.find(name);
      const std::string a1111 = it == kFields.end() ? name : it->second;
      if (field.empty()) field = a1111;
      return a1111;
    });
    json loc = json::array({"body"});
    if (!field.empty()) loc.push_back(field);
    throw validation_error(loc, msg);
  } catch (const Error& e) {  // (a LoRA or embedding the prompt names that is not there)
    throw validation_error(json::array({"body", "prompt"}), e.what());
  }
  return out;
}

}  // namespace i2i::server
