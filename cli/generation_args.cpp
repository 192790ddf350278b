#include "generation_args.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <optional>

#include "core/error.h"
#include "io/config_file.h"
#include "io/image.h"
#include "io/safetensors.h"
#include "models/model_lookup.h"
#include "models/model_names.h"
#include "models/models_folder.h"
#include "pipelines/infotext.h"

namespace i2i::cli {
namespace fs = std::filesystem;
namespace {

int to_int(const Args& a, const char* name, int current) {
  auto v = a.integer(name);
  if (!v) return current;
  if (*v < -2147483647LL || *v > 2147483647LL) throw Error(std::string("--") + name + " is out of range");
  return static_cast<int>(*v);
}

double parse_number(const std::string& name, const std::string& v) {
  errno = 0;
  char* end = nullptr;
  double d = std::strtod(v.c_str(), &end);
  if (v.empty() || *end != '\0' || errno == ERANGE || !std::isfinite(d))
    throw Error("--" + name + " expects a number, got '" + v + "'");
  return d;
}

// The values of a per-unit option, at most one per unit.
const std::vector<std::string>& per_unit(const Args& a, const std::string& name, size_t units) {
  const auto& v = a.all(name);
  if (v.size() > units)
    throw Error("--" + name + " is given " + std::to_string(v.size()) + " times for " +
                std::to_string(units) + " --control image(s): the i-th value belongs to the i-th --control");
  return v;
}

// --reference-image and the options of the reference unit (over a unit recorded in --from-png).
void apply_reference_args(const Args& a, GenerationParams& p) {
  for (const char* name : {"reference-image", "reference-mode", "style-fidelity", "reference-attn-weight",
                           "reference-adain-weight"})
    if (a.all(name).size() > 1)
      throw Error(std::string("--") + name + " is given more than once (there is one reference unit)");
  if (auto v = a.get("reference-image")) {
    if (!p.reference) p.reference = ReferenceParams{};
    p.reference->image = *v;
  }
  for (const char* name :
       {"reference-mode", "style-fidelity", "reference-attn-weight", "reference-adain-weight"}) {
    const std::string n = name;
    auto v = a.get(n);
    if (!v) continue;
    if (!p.reference) throw Error("--" + n + " needs a --reference-image");
    if (n == "reference-mode")
      p.reference->mode = parse_reference_mode(*v);
    else if (n == "style-fidelity")
      p.reference->style_fidelity = parse_number(n, *v);
    else if (n == "reference-attn-weight")
      p.reference->attn_weight = parse_number(n, *v);
    else
      p.reference->adain_weight = parse_number(n, *v);
  }
}

// IP-Adapter units: each --ip-adapter starts a unit, and the unit flags after it (up to the next
// --ip-adapter) are that unit's; unit flags before the first --ip-adapter belong to the first unit. Given
// --ip-adapter flags replace the units recorded in a --from-png picture as a whole.
void ip_adapter_units_from_args(const Args& a, GenerationParams& p) {
  static const char* const unit_flags[] = {"ip-adapter-image", "ip-adapter-scale", "ip-adapter-mode",
                                           "ip-adapter-layers", "image-encoder"};
  auto is_unit_flag = [](const std::string& n) {
    return std::find(std::begin(unit_flags), std::end(unit_flags), n) != std::end(unit_flags);
  };
  if (!a.has("ip-adapter")) {
    for (const char* n : unit_flags)
      if (a.has(n))
        throw Error(std::string("--") + n +
                    (p.ip_adapters.empty()
                         ? " needs an --ip-adapter"
                         : " needs an --ip-adapter (the recorded IP-Adapter units are replaced as a whole)"));
    return;
  }
  p.ip_adapters.assign(a.all("ip-adapter").size(), IpAdapterParams{});
  std::vector<std::vector<std::string>> seen(p.ip_adapters.size());
  size_t unit = 0;
  bool started = false;
  for (const auto& [name, value] : a.ordered()) {
    if (name == "ip-adapter") {
      if (started) ++unit;
      started = true;
      p.ip_adapters[unit].model = value;
      continue;
    }
    if (!is_unit_flag(name)) continue;
    auto& flags = seen[unit];
    if (std::find(flags.begin(), flags.end(), name) != flags.end())
      throw Error("--" + name + " is given twice for IP-Adapter unit " + std::to_string(unit) +
                  " (each --ip-adapter takes the unit flags after it)");
    flags.push_back(name);
    IpAdapterParams& u = p.ip_adapters[unit];
    if (name == "ip-adapter-image")
      u.image = value;
    else if (name == "ip-adapter-scale")
      u.scale = parse_number(name, value);
    else if (name == "ip-adapter-mode")
      u.mode = value;
    else if (name == "ip-adapter-layers")
      u.layers = value;
    else
      u.image_encoder = value;
  }
}

// "W,H" / "X,Y": two whole numbers.
PairXY parse_pair(const std::string& name, const std::string& v) {
  const size_t comma = v.find(',');
  const std::string what = name.find("crops") != std::string::npos ? "X,Y" : "W,H";
  if (comma == std::string::npos) throw Error("--" + name + " expects " + what + ", got '" + v + "'");
  const double a = parse_number(name, v.substr(0, comma)), b = parse_number(name, v.substr(comma + 1));
  if (a != std::floor(a) || b != std::floor(b) || std::fabs(a) > 1e6 || std::fabs(b) > 1e6)
    throw Error("--" + name + " expects two whole numbers " + what + ", got '" + v + "'");
  return {static_cast<int>(a), static_cast<int>(b)};
}

// The SDXL flags (over what --from-png recorded).
void apply_sdxl_args(const Args& a, GenerationParams& p) {
  for (auto [name, slot] : {std::pair{"original-size", &p.original_size},
                            {"target-size", &p.target_size},
                            {"negative-original-size", &p.negative_original_size},
                            {"negative-target-size", &p.negative_target_size}})
    if (auto v = a.get(name)) *slot = parse_pair(name, *v);
  if (auto v = a.get("crops-top-left")) p.crops_top_left = parse_pair("crops-top-left", *v);
  if (auto v = a.get("negative-crops-top-left"))
    p.negative_crops_top_left = parse_pair("negative-crops-top-left", *v);
  if (auto v = a.get("aesthetic-score")) p.aesthetic_score = parse_number("aesthetic-score", *v);
  if (auto v = a.get("negative-aesthetic-score"))
    p.negative_aesthetic_score = parse_number("negative-aesthetic-score", *v);
  p.refiner = a.get_or("refiner", p.refiner);
  if (auto v = a.get("refiner-switch-at")) {
    if (p.refiner.empty() && !a.has("from-png")) throw Error("--refiner-switch-at needs a --refiner");
    p.refiner_switch_at = parse_number("refiner-switch-at", *v);
  }
}

// --lora FILE[:MULT] or FILE:TE_MULT:UNET_MULT (trailing ':number' parts are multipliers).
LoraParams parse_lora_flag(const std::string& v) {
  auto number = [](const std::string& s) -> std::optional<double> {
    errno = 0;
    char* end = nullptr;
    const double d = std::strtod(s.c_str(), &end);
    if (s.empty() || *end != '\0' || errno == ERANGE || !std::isfinite(d)) return std::nullopt;
    return d;
  };
  LoraParams l;
  l.file = v;
  std::vector<double> mults;
  while (mults.size() < 2) {
    const size_t colon = l.file.rfind(':');
    if (colon == std::string::npos) break;
    auto d = number(l.file.substr(colon + 1));
    if (!d) break;
    mults.insert(mults.begin(), *d);
    l.file.resize(colon);
  }
  if (l.file.empty()) throw Error("--lora expects FILE[:MULT], got '" + v + "'");
  // What is left after a ':' that is not a file name: a multiplier that is no finite number ("nan", "1e999",
  // ""), or a third one.
  if (const size_t colon = l.file.rfind(':'); colon != std::string::npos && !fs::exists(l.file)) {
    const std::string rest = l.file.substr(colon + 1);
    char* end = nullptr;
    std::strtod(rest.c_str(), &end);
    if (rest.empty() || *end == '\0')
      throw Error("--lora '" + v + "': " +
                  (mults.size() == 2 ? std::string("more than two multipliers (FILE:TE:UNET at most)")
                                     : "the multiplier '" + rest + "' is not a finite number"));
  }
  if (!mults.empty()) l.te_multiplier = l.unet_multiplier = mults[0];
  if (mults.size() == 2) l.unet_multiplier = mults[1];
  return l;
}

}  // namespace

const std::vector<OptionSpec>& generation_options() {
  static const std::vector<OptionSpec> specs = {
      {"model", true,
       "checkpoint (.safetensors) or diffusers folder; or its name in the models folder, or org/name[@rev] "
       "in the Hugging Face cache",
       "PATH|NAME"},
      {"init", true, "the source image (PNG, JPEG or WebP)", "IMAGE"},
      {"init-dir", true,
       "img2img every picture (PNG, JPEG, WebP) of a folder with the same settings, the model loaded once; "
       "needs --output-dir",
       "DIR"},
      {"output-dir", true, "with --init-dir: where the results go, as <source name>.png", "DIR"},
      {"prompt", true, "what the new image shows (A1111 syntax: (word:1.3), [word], BREAK)", "TEXT"},
      {"negative-prompt", true, "what it should not show", "TEXT"},
      {"strength", true, "denoising strength 0..1: how much changes (default 0.75)", "S"},
      {"steps", true, "sampling steps (default 20; img2img runs strength x steps of them)", "N"},
      {"cfg-scale", true,
       "classifier-free guidance scale (default 7; 0 or 1 turns guidance off: one UNet pass, no negative "
       "prompt)",
       "G"},
      {"sampler", true, "sampler, as AUTOMATIC1111 names it (default \"Euler a\"; see --list-samplers)",
       "NAME"},
      {"scheduler", true,
       "schedule type: automatic (default), karras, normal or trailing (diffusers' "
       "timestep_spacing=\"trailing\", for SD-Turbo / SDXL-Turbo)",
       "TYPE"},
      {"seed", true, "random seed (default -1: a random one, printed)", "N"},
      {"width", true,
       "output width (default: the init image's, rounded down to a multiple of 8; with --only-masked the "
       "size the masked area is worked at)",
       "W"},
      {"height", true, "output height (as --width)", "H"},
      {"resize-mode", true, "\"just resize\" (default), \"crop and resize\" or \"resize and fill\"", "MODE"},
      {"clip-skip", true, "stop the text encoder N-1 layers early, as A1111's Clip skip (default 1)", "N"},
      {"no-emphasis", false, "read ( ) [ ] and (text:weight) literally"},
      {"rng", true,
       "noise source: cpu (default: torch's CPU generator, as diffusers) or gpu (A1111's default GPU seeds)",
       "SRC"},
      {"batch-count", true, "how many batches to make (default 1)", "N"},
      {"batch-size", true, "images per batch (default 1); image k uses seed + k", "N"},
      {"mask", true, "inpainting mask: white = repaint (grey levels; an alpha channel is the mask)", "IMAGE"},
      {"invert-mask", false, "repaint what is black instead"},
      {"mask-blur", true, "blur the mask edge by N pixels (default 4)", "N"},
      {"masked-content", true,
       "what the masked area starts from: original (default), fill, \"latent noise\", "
       "\"latent nothing\"",
       "MODE"},
      {"only-masked", false, "work on the masked area only, at full resolution, and paste it back"},
      {"padding", true, "with --only-masked: pixels of context around the masked area (default 32)", "N"},
      {"no-composite", false, "keep the raw decoded picture (no overlay of the source outside the mask)"},
      {"control", true, "ControlNet control image (repeatable: one ControlNet unit per --control)", "IMAGE"},
      {"control-model", true, "the ControlNet for the i-th --control (file, diffusers folder or name)",
       "PATH|NAME"},
      {"control-weight", true, "its weight (default 1)", "W"},
      {"control-start", true, "fraction of the steps before it starts (default 0)", "F"},
      {"control-end", true, "fraction of the steps after which it stops (default 1)", "F"},
      {"control-preprocess", true,
       "none (default: the image is the map), canny, or an annotator network (i2i preprocess --help)",
       "NAME"},
      {"annotator-model", true,
       "the annotator network's file (or name) for the i-th --control's --control-preprocess (depth, pose, "
       "...; \"\" for a unit without one); default: its usual file in the models folder's annotators/",
       "FILE"},
      {"control-resolution", true,
       "A1111's Processor Res: the short side an annotator works at (default 512)", "N"},
      {"canny-low", true, "Canny low threshold (default 100)", "N"},
      {"canny-high", true, "Canny high threshold (default 200)", "N"},
      {"reference-image", true,
       "reference-only conditioning: a picture whose look the result follows (A1111 ControlNet's "
       "reference preprocessors; one extra UNet pass per step)",
       "IMAGE"},
      {"reference-mode", true, "reference_only (default: attention), reference_adain or reference_adain+attn",
       "MODE"},
      {"style-fidelity", true,
       "0..1: how much the reference also steers the negative-prompt half (default 0.5)", "F"},
      {"reference-attn-weight", true,
       "share of the self-attention layers, widest first, that see the reference (default 1: all)", "W"},
      {"reference-adain-weight", true,
       "which block outputs take the reference's statistics: 0 mid block only .. 2 all (default 1)", "W"},
      {"ip-adapter", true,
       "IP-Adapter file (h94 .safetensors, base or plus; repeatable: each starts a unit taking the "
       "--ip-adapter-* and --image-encoder flags after it; or its name in the models folder)",
       "FILE|NAME"},
      {"ip-adapter-image", true, "the unit's reference picture (its look steers the generation)", "IMAGE"},
      {"ip-adapter-scale", true, "the unit's strength (default 1)", "S"},
      {"ip-adapter-mode", true,
       "layers the picture acts on: all (default), style, composition or style+composition (InstantStyle)",
       "MODE"},
      {"ip-adapter-layers", true,
       "explicit per-layer scales instead of a mode, e.g. up_blocks.1.attentions.1=1 (diffusers names; a "
       "block covers its attention layers; unlisted layers 0)",
       "NAME=S,..."},
      {"image-encoder", true,
       "the unit's CLIP vision encoder (transformers folder; default: image_encoder/ beside the adapter or "
       "one folder up; or its name in the models folder's clip_vision/)",
       "DIR|NAME"},
      {"refiner", true,
       "SDXL refiner checkpoint that takes over the denoising at --refiner-switch-at (A1111's refiner)",
       "MODEL"},
      {"refiner-switch-at", true,
       "SDXL: fraction of the denoising after which the refiner takes over (default 0.8)", "F"},
      {"original-size", true, "SDXL size conditioning: the original picture size (default: the output size)",
       "W,H"},
      {"crops-top-left", true, "SDXL: the crop's top-left corner it conditions on (default 0,0)", "X,Y"},
      {"target-size", true, "SDXL: the target size it conditions on (default: the output size)", "W,H"},
      {"negative-original-size", true, "SDXL: --original-size of the negative prompt (default: the same)",
       "W,H"},
      {"negative-crops-top-left", true,
       "SDXL refiner: --crops-top-left of the negative prompt (default 0,0; the base model uses the "
       "positive crop for both, as diffusers)",
       "X,Y"},
      {"negative-target-size", true, "SDXL: --target-size of the negative prompt (default: the same)", "W,H"},
      {"aesthetic-score", true, "SDXL refiner: the aesthetic score it conditions on (default 6)", "S"},
      {"negative-aesthetic-score", true, "SDXL refiner: the negative prompt's aesthetic score (default 2.5)",
       "S"},
      {"output", true, "output PNG (default output.png; existing files are not overwritten: numbered)",
       "FILE"},
      {"overwrite", false, "replace existing output files"},
      {"from-png", true,
       "re-run the generation recorded in a PNG's parameters (flags given override it); its models are "
       "found by name and hash in the folder of --model (or --model itself when it is a folder of models) "
       "and the current folder",
       "PNG"},
      {"infotext-paths", false,
       "also record the absolute paths of the models and pictures in the PNG parameters (default: names "
       "and hashes only, nothing of your file system)"},
      {"models-dir", true,
       "models folder in AUTOMATIC1111's layout (Lora/, embeddings/, ...; default $I2I_MODELS_DIR or "
       "~/.local/share/i2i/models)",
       "DIR"},
      {"lora", true,
       "apply a LoRA file (or diffusers LoRA folder), as <lora:NAME:MULT> in the prompt does; MULT (default "
       "1) "
       "or TE_MULT:UNET_MULT; repeatable",
       "FILE[:MULT]"},
      {"lora-dir", true, "folder of the LoRAs that <lora:NAME:W> names (default: Lora/ in the models folder)",
       "DIR"},
      {"embeddings-dir", true,
       "folder of textual-inversion embeddings used by name in prompts (default: embeddings/ in the models "
       "folder)",
       "DIR"},
      {"vae", true, "a VAE to use instead of the checkpoint's (file, diffusers folder or name)", "PATH|NAME"},
      {"tokenizer", true, "folder with the CLIP vocab.json and merges.txt", "DIR"},
      {"model-config", true, "model configuration (diffusers-style JSON or LDM YAML)", "FILE"},
      {"prediction", true, "prediction type for a bare SD 2.x file: v (default) or eps", "TYPE"},
      {"precision", true, "auto (default: bf16 where the CPU has it, for full-size models), fp32 or bf16",
       "P"},
      {"noise-file", true, "replay noise tensors from a safetensors file, in file order (debugging)", "FILE"},
      {"quiet", false, "no progress bar"},
      {"verbose", false,
       "print where the time went on stderr: one line per (component, phase) with seconds (file reading and "
       "conversion, weight reorders, kernel creation, each forward pass), then the run's wall time"},
      {"list-samplers", false, "print the sampler names and exit"},
      {"help", false, "this text"},
  };
  return specs;
}

const std::vector<OptionSpec>& txt2img_options() {
  static const std::vector<OptionSpec> specs = [] {
    std::vector<OptionSpec> out;
    for (const OptionSpec& o : generation_options()) {
      static const char* const dropped[] = {"init",        "init-dir",    "output-dir",  "strength",
                                            "mask",        "invert-mask", "mask-blur",   "masked-content",
                                            "only-masked", "padding",     "no-composite"};
      if (std::find(std::begin(dropped), std::end(dropped), o.name) != std::end(dropped)) continue;
      OptionSpec spec = o;
      if (o.name == "width" || o.name == "height")
        spec.help = "picture " + o.name + " (default 512; multiple of 8)";
      out.push_back(spec);
    }
    return out;
  }();
  return specs;
}

SdModelOptions model_options_from_args(const Args& a, const GenerationParams& p) {
  SdModelOptions mo;
  mo.vae = p.vae;
  mo.models_dir = p.models_dir;
  mo.tokenizer = a.get_or("tokenizer", "");
  if (auto v = a.get("model-config")) mo.checkpoint.model_config = *v;
  if (auto v = a.get("prediction")) mo.checkpoint.prediction = parse_prediction(*v);
  mo.precision = parse_precision(a.get_or("precision", "auto"));
  // The CLI runs one request (or one per --init-dir picture, which prepare them again): the text encoders'
  // weights are not kept while the UNet and VAE run.
  mo.keep_text_encoders = false;
  return mo;
}

std::string flag_for_parameter(const std::string& name) {
  if (name == "control_image") return "--control";
  if (name == "schedule") return "--scheduler";
  std::string flag = "--" + name;
  std::replace(flag.begin(), flag.end(), '_', '-');
  return flag;
}

namespace {

// The parameters text of the --from-png picture (read again: only for messages), if it has one.
std::optional<GenerationParameters> from_png_parameters(const Args& a) {
  const auto png = a.get("from-png");
  if (!png) return std::nullopt;
  try {
    auto text = read_png_text(*png);
    auto it = text.find("parameters");
    if (it == text.end()) return std::nullopt;
    return parse_parameters(it->second);
  } catch (const Error&) {
    return std::nullopt;
  }
}

}  // namespace

std::string name_parameter(const Args& a, const std::string& name) {
  const std::string flag = flag_for_parameter(name);
  if (!a.has("from-png") || a.has(flag.substr(2))) return flag;
  const auto info = from_png_parameters(a);
  if (!info || !infotext_sets_parameter(*info, name)) return flag;
  const std::string key = infotext_key_for_parameter(name);
  return (key == "prompt" ? std::string("the prompt") : "'" + key + "'") + " in " + *a.get("from-png");
}

std::string from_png_warning(const Args& a) {
  const auto info = from_png_parameters(a);
  if (!info) return "";
  std::string keys;
  for (const std::string& k : unhonoured_infotext_keys(*info))
    keys += (keys.empty() ? "" : ", ") + k + " " + printable_excerpt(info->get(k).value_or(""), 40);
  if (keys.empty()) return "";
  return *a.get("from-png") + " records " + keys +
         ", which i2i does not support (ignored): the picture will differ from the original";
}

namespace {

// Whether `dir` is a model (a diffusers pipeline, ControlNet or VAE folder) rather than a folder of models.
bool is_model_folder(const fs::path& dir) {
  std::error_code ec;
  return fs::exists(dir / "model_index.json", ec) || fs::exists(dir / "config.json", ec) ||
         fs::is_directory(dir / "unet", ec);
}

// --model given with --from-png as a folder holding models (not a model itself): where to look for them.
bool model_flag_is_search_folder(const Args& a) {
  const auto m = a.get("model");
  std::error_code ec;
  return a.has("from-png") && m && fs::is_directory(*m, ec) && !is_model_folder(*m);
}

// Where --from-png looks for the models a picture names: the folder of --model (or --model itself when it
// is a folder of models), then the current folder.
std::vector<fs::path> model_search_folders(const Args& a) {
  std::vector<fs::path> folders;
  std::error_code ec;
  if (auto m = a.get("model"))
    folders.push_back(model_flag_is_search_folder(a) ? fs::absolute(*m, ec)
                                                     : fs::absolute(*m, ec).lexically_normal().parent_path());
  folders.push_back(fs::current_path(ec));
  // Last, the models folder's checkpoint, VAE and ControlNet folders (models/model_names.h).
  const fs::path root = models_folder(a.get_or("models-dir", ""));
  for (ModelKind kind : {ModelKind::Checkpoint, ModelKind::Vae, ModelKind::ControlNet})
    for (const fs::path& f : model_kind_folders(kind, root)) folders.push_back(f);
  return folders;
}

std::string join(const std::vector<fs::path>& paths) {
  std::string out;
  for (const fs::path& p : paths) out += (out.empty() ? "" : ", ") + p.string();
  return out;
}

// Sets `path` to the file the picture names by `ref`, unless it already names an existing file (a flag
// given, or a path the picture recorded with --infotext-paths). Throws a one-line error asking for `flag`,
// naming the name and hash looked for and where.
void find_recorded(std::string& path, const ModelRef& ref, const std::vector<fs::path>& folders,
                   const std::string& png, const std::string& what, const std::string& flag) {
  std::error_code ec;
  if (ref.empty()) {  // nothing recorded to check a file against: a recorded path is used if it exists
    if (!path.empty() && !fs::exists(path, ec)) path.clear();
    return;
  }
  // A recorded path (--infotext-paths) is only a last place to look, and like any other file it is used
  // only if its name and hash are the recorded ones: the folders the user gives come first.
  std::vector<fs::path> search = folders;
  if (!path.empty())
    search.push_back(fs::path(path).parent_path().empty() ? fs::path(".") : fs::path(path).parent_path());
  path.clear();
  const ModelSearch s = find_model(ref, search);
  if (s.found) {
    path = s.found->string();
    return;
  }
  throw Error(png + " was made with " + what + " " + ref.describe() + ", which is not in " + join(folders) +
              (s.mismatch.empty() ? "" : " (" + s.mismatch + ")") + ": give " + flag);
}

}  // namespace

GenerationParams generation_params_from_args(const Args& a) {
  GenerationParams p;
  std::optional<RecordedModels> recorded;
  bool recorded_img2img = false;  // the picture is an img2img one (its init image is needed too)
  const std::string png = a.get_or("from-png", "");
  if (!png.empty()) {
    auto text = read_png_text(png);
    auto it = text.find("parameters");
    if (it == text.end()) throw Error(png + ": no generation parameters in this PNG");
    GenerationParameters info;
    try {
      info = parse_parameters(it->second);
      apply_infotext(info, p);
    } catch (const ParameterError&) {
      throw;
    } catch (const Error& e) {  // "infotext: 'Steps' value '1e300' is not ...": which picture's text
      throw Error(png + ": " + e.what());
    }
    recorded = recorded_models(info);
    recorded_img2img = info.get("Denoising strength").has_value();
  }
  const bool model_folder = model_flag_is_search_folder(a);
  if (!model_folder) p.model = a.get_or("model", p.model);
  p.vae = a.get_or("vae", p.vae);
  p.init_image = a.get_or("init", p.init_image);
  p.prompt = a.get_or("prompt", p.prompt);
  p.negative_prompt = a.get_or("negative-prompt", p.negative_prompt);
  if (auto v = a.number("strength")) p.strength = *v;
  p.steps = to_int(a, "steps", p.steps);
  if (auto v = a.number("cfg-scale")) p.cfg_scale = *v;
  p.sampler = a.get_or("sampler", p.sampler);
  p.schedule = a.get_or("scheduler", p.schedule);
  if (auto v = a.integer("seed")) p.seed = *v;
  p.width = to_int(a, "width", p.width);
  p.height = to_int(a, "height", p.height);
  if (auto v = a.get("resize-mode")) p.resize_mode = parse_resize_mode(*v);
  p.clip_skip = to_int(a, "clip-skip", p.clip_skip);
  if (a.has("no-emphasis")) p.emphasis = false;
  if (auto v = a.get("rng")) {
    if (*v == "cpu" || *v == "CPU")
      p.rng = GenerationParams::Rng::Cpu;
    else if (*v == "gpu" || *v == "GPU")
      p.rng = GenerationParams::Rng::Gpu;
    else
      throw Error("--rng must be cpu or gpu, got '" + *v + "'");
  }
  p.batch_count = to_int(a, "batch-count", p.batch_count);
  p.batch_size = to_int(a, "batch-size", p.batch_size);

  p.mask = a.get_or("mask", p.mask);
  MaskOptions& m = p.mask_options;
  if (a.has("invert-mask")) m.invert = true;
  m.blur = to_int(a, "mask-blur", m.blur);
  if (auto v = a.get("masked-content")) m.content = parse_masked_content(*v);
  if (a.has("only-masked")) m.only_masked = true;
  m.padding = to_int(a, "padding", m.padding);
  if (a.has("no-composite")) p.composite = false;

  const auto& images = a.all("control");
  const size_t units = images.size();
  // A picture that records its units without their images (no paths): one --control per recorded unit
  // gives each its image and keeps its settings. Otherwise --control flags replace the units as a whole.
  const bool fill_recorded = units > 0 && units == p.controls.size() &&
                             std::all_of(p.controls.begin(), p.controls.end(),
                                         [](const ControlParams& c) { return c.image.empty(); });
  if (units > 0) {
    if (!fill_recorded) {
      p.controls.assign(units, ControlParams{});
      if (recorded) recorded->controls.clear();  // (the recorded units and their models no longer apply)
    }
    for (size_t i = 0; i < units; ++i) p.controls[i].image = images[i];
  }
  for (const char* name :
       {"control-model", "control-weight", "control-start", "control-end", "control-preprocess", "canny-low",
        "canny-high", "annotator-model", "control-resolution"}) {
    const std::string n = name;
    if (units == 0) {
      if (a.has(n) && p.controls.empty()) throw Error("--" + n + " needs a --control image");
      if (a.has(n))
        throw Error("--" + n + " needs --control images (the recorded units are replaced as a whole)");
      continue;
    }
    const auto& values = per_unit(a, n, units);
    for (size_t i = 0; i < values.size(); ++i) {
      ControlParams& c = p.controls[i];
      const std::string& v = values[i];
      if (n == "control-model")
        c.model = v;
      else if (n == "control-weight")
        c.weight = parse_number(n, v);
      else if (n == "control-start")
        c.guidance_start = parse_number(n, v);
      else if (n == "control-end")
        c.guidance_end = parse_number(n, v);
      else if (n == "control-preprocess")
        c.preprocess = v;
      else if (n == "annotator-model")
        c.annotator_model = v;
      else {
        const double d = parse_number(n, v);
        if (d != std::floor(d) || std::fabs(d) > 1e6)
          throw Error("--" + n + " expects an integer, got '" + v + "'");
        (n == "canny-low"    ? c.canny_low
         : n == "canny-high" ? c.canny_high
                             : c.resolution) = static_cast<int>(d);
      }
    }
  }
  ip_adapter_units_from_args(a, p);
  apply_reference_args(a, p);
  apply_sdxl_args(a, p);
  for (const std::string& v : a.all("lora")) p.loras.push_back(parse_lora_flag(v));
  p.infotext_paths = a.has("infotext-paths");
  p.models_dir = a.get("models-dir").value_or("");
  p.lora_dir = a.get("lora-dir").value_or("");
  p.embeddings_dir = a.get("embeddings-dir").value_or("");

  // The models the picture names, where no flag names them (and no recorded path still exists).
  if (recorded) {
    const std::vector<fs::path> folders = model_search_folders(a);
    // (Both missing: the message asks for both.)
    const bool init_missing = recorded_img2img && p.init_image.empty();
    if (!a.has("model") || model_folder)
      find_recorded(p.model, recorded->model, folders, png, "the model",
                    std::string("--model (its file, or the folder holding it)") +
                        (init_missing ? " and --init (the picture does not record its init image)" : ""));
    if (model_folder && p.model.empty())
      throw Error(png + " does not name its model: give --model as the model's file or folder");
    if (!a.has("vae")) find_recorded(p.vae, recorded->vae, folders, png, "the VAE", "--vae");
    if (!a.has("refiner"))
      find_recorded(p.refiner, recorded->refiner, folders, png, "the SDXL refiner", "--refiner");
    for (size_t i = 0; i < p.controls.size() && i < recorded->controls.size(); ++i)
      if (a.all("control-model").size() <= i)
        find_recorded(p.controls[i].model, recorded->controls[i], folders, png,
                      "the " + control_unit_name(p.controls[i], i) + " model", "--control-model");
  }
  return p;
}

GenerationRequest generation_request_from_args(const Args& a, GenerationCommand kind) {
  GenerationRequest req;
  req.params = generation_params_from_args(a);
  // Model names -> paths (so that messages and loading see paths). The model's own name is resolved when
  // it loads, after the request's other inputs are checked.
  resolve_model_files(req.params, /*model=*/false);
  const GenerationParams& p = req.params;
  // What a picture given to --from-png does not record (it records no paths without --infotext-paths).
  const std::string unrecorded =
      a.has("from-png")
          ? ": " + *a.get("from-png") + " does not record it (no paths without --infotext-paths)"
          : "";
  if (p.model.empty())
    throw Error("--model is required (a .safetensors checkpoint or a diffusers folder)" + unrecorded);
  if (kind != GenerationCommand::Txt2Img && p.init_image.empty() && !a.has("init-dir"))
    throw Error("--init is required (the source image)" + unrecorded);
  if (kind == GenerationCommand::Inpaint && p.mask.empty())
    throw Error("--mask is required (the inpainting mask: white = repaint)" + unrecorded);
  for (size_t i = 0; i < p.controls.size(); ++i)
    if (p.controls[i].image.empty())
      throw Error("--control is required for " + control_unit_name(p.controls[i], i) +
                  " (one per recorded unit, " + std::to_string(p.controls.size()) +
                  " in all; their recorded settings are kept)" + unrecorded);
  for (const char* dim : {"width", "height"})
    if (a.has(dim) && *a.integer(dim) <= 0)
      throw Error(std::string("--") + dim + " must be a positive number of pixels, got " + *a.get(dim));
  if (kind == GenerationCommand::Txt2Img) {
    req.params.init_image.clear();  // (--from-png of an img2img picture)
    req.params.mask.clear();
    if (!req.params.width) req.params.width = 512;
    if (!req.params.height) req.params.height = 512;
  }
  if (auto nf = a.get("noise-file")) {
    SafeTensors st = SafeTensors::open(*nf);
    for (const auto& name : st.names()) req.replay_noise.push_back(st.get_f32(name).clone());
  }
  return req;
}

}  // namespace i2i::cli
