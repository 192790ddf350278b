// Everything that defines one generation, as the command line, the PNG `parameters` text and the library
// share it, with validation that turns bad values into one-line errors.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "io/image_resize.h"
#include "pipelines/inpaint.h"
#include "pipelines/reference_control.h"

namespace i2i {

// A1111's name for a resize mode ("Just resize", ...), as its infotext writes it.
std::string resize_mode_name(ResizeMode m);

// One ControlNet unit as the user gives it (--control IMAGE --control-model PATH ...).
struct ControlParams {
  std::string image;  // the control image (a map, or a picture to run through the preprocessor)
  std::string model;  // ControlNet file or diffusers folder
  double weight = 1.0;
  double guidance_start = 0.0, guidance_end = 1.0;
  // The preprocessor by A1111's module name (preprocess/control_preprocessors.h): "none" (the image is the
  // map), "canny", "depth_anything_v2", ...
  std::string preprocess = "none";
  int canny_low = 100, canny_high = 200;  // canny's Threshold A / B
  // The annotator network's file, for preprocessors that run one (depth_anything_v2, openpose, ...).
  std::string annotator_model;
  // A1111's "Processor Res" (processor_res in its API): the short side the preprocessor works at, for the
  // preprocessors that use one; the map is then resized to the generation size.
  int resolution = 512;
  // The unit's number as the user gave it, for messages (control_unit_name): N of the "ControlNet N" key of
  // a --from-png picture (whose IP-Adapter and reference units take numbers too), the unit's place in an
  // API request's list. -1: its place among the --control flags (0 for the first), as written pictures
  // number it.
  int number = -1;
};

// The reference-only unit (--reference-image IMAGE --reference-mode ...; reference_control.h).
struct ReferenceParams {
  std::string image;  // the reference picture, resized (PIL LANCZOS) to the generation size
  ReferenceMode mode = ReferenceMode::Attn;
  double style_fidelity = 0.5;  // [0, 1]
  double attn_weight = 1.0;     // attention auto machine weight, >= 0
  double adain_weight = 1.0;    // gn auto machine weight, >= 0
};

// One IP-Adapter unit as the user gives it (--ip-adapter FILE --ip-adapter-image IMAGE ...): an image prompt
// (h94/IP-Adapter) whose attention adds to the text's in every chosen cross-attention layer.
struct IpAdapterParams {
  std::string model;  // the adapter file (.safetensors, original h94 layout; base or plus, SD 1.x or SDXL)
  std::string image;  // the reference picture (its style / content steer the generation)
  double scale = 1.0;
  // InstantStyle's layer choice: "all", "style", "composition" or "style+composition" (ip_adapter_units.h).
  std::string mode = "all";
  // Explicit per-layer factors instead of a mode, "NAME=S,NAME=S" with diffusers names (a block name covers
  // all its attention layers; unlisted layers get 0), multiplied with `scale`. "" = by `mode`.
  std::string layers;
  // The CLIP vision encoder (transformers folder). "" = looked up beside the adapter (ip_adapter_request.h);
  // generate() records the one it used in the parameters text.
  std::string image_encoder;
  // AUTOMATIC1111's ControlNet-extension preprocessor name for the unit ("ip-adapter_clip_sd15", ...), for
  // the parameters text: set by generate() from the model and encoder ("" = ip-adapter_clip_sd15).
  std::string module;
  // N of the unit's "ControlNet N" key in a --from-png picture, for messages (ip_adapter_unit_name); -1: a
  // unit of the flags, named by its place among them.
  int number = -1;
};

// How messages name the i-th unit of GenerationParams::controls / ::ip_adapters: by the number the user
// gave it, not by its place in the list (units of a picture's text are numbered among every kind of unit):
// "ControlNet 3"; an IP-Adapter unit "ControlNet 3 (IP-Adapter)" when read from a picture, else
// "IP-Adapter 0".
std::string control_unit_name(const ControlParams& c, size_t i);
std::string ip_adapter_unit_name(const IpAdapterParams& u, size_t i);

// A pair as the SDXL flags write it: a size W,H (x = width, y = height) or a crop's top-left corner X,Y
// (x = left, y = top). diffusers' tuples are the other way round, (height, width) / (top, left).
struct PairXY {
  int x = 0, y = 0;
  bool operator==(const PairXY& o) const { return x == o.x && y == o.y; }
};

// A LoRA given by file (--lora FILE[:MULT]) rather than by a <lora:NAME:MULT> tag in the prompt. It is
// applied as a tag would be, and the parameters text records it as a tag appended to the prompt (as A1111
// records its `sd_lora` setting), so that --from-png finds it by name in the LoRA folder.
// LoRA multipliers beyond this (A1111 has no limit; people use -5 .. 5) only overflow the weights.
constexpr double kMaxLoraMultiplier = 100.0;

struct LoraParams {
  std::string file;  // a .safetensors file, or a diffusers LoRA folder (its pytorch_lora_weights.safetensors)
  double te_multiplier = 1.0;
  double unet_multiplier = 1.0;
};

struct GenerationParams {
  std::string model;
  std::string vae;  // optional VAE override
  std::string init_image;
  std::string prompt;
  std::string negative_prompt;
  double strength = 0.75;
  int steps = 20;
  double cfg_scale = 7.0;
  std::string sampler = "Euler a";
  std::string schedule;       // "" = the sampler's own; "karras" etc.
  int64_t seed = -1;          // -1: random
  int width = 0, height = 0;  // 0: from the init image (rounded down to a multiple of 8)
  ResizeMode resize_mode = ResizeMode::JustResize;
  int clip_skip = 1;  // A1111 numbering: 1 = last layer
  bool emphasis = true;
  // Noise source: the torch CPU generator (diffusers' and A1111's "CPU"), or Philox as torch draws on
  // CUDA (A1111's default "GPU" seeds).
  enum class Rng { Cpu, Gpu } rng = Rng::Cpu;
  int batch_count = 1;
  int batch_size = 1;
  // Inpainting: the mask image ("" = none) and A1111's mask options; composite = overlay the result so
  // that pixels outside the mask stay the source's (--no-composite turns it off).
  std::string mask;
  MaskOptions mask_options;
  bool composite = true;
  std::vector<ControlParams> controls;
  std::optional<ReferenceParams> reference;
  std::vector<IpAdapterParams> ip_adapters;
  // SDXL size conditioning (diffusers' original_size / crops_coords_top_left / target_size and negative_*,
  // XlConditions in img2img.h): unset sizes are the output size, crops 0,0, negative sizes the positive
  // ones. The base model ignores negative_crops_top_left (as diffusers 0.27.2); the refiner uses it.
  std::optional<PairXY> original_size, target_size, negative_original_size, negative_target_size;
  PairXY crops_top_left, negative_crops_top_left;
  // SDXL refiner: the aesthetic scores of its time ids (diffusers / A1111 defaults).
  double aesthetic_score = 6.0, negative_aesthetic_score = 2.5;
  // A1111's refiner hand-off: an SDXL refiner checkpoint that takes over the denoising once A1111's
  // progress ratio (999 - t) / 1000 of a step reaches refiner_switch_at ("" = none).
  std::string refiner;
  double refiner_switch_at = 0.8;
  // Whether any SDXL-only setting differs from its default.
  bool has_sdxl_settings() const;
  // LoRAs given by file, applied before those the prompt names (pipelines/lora_request.h).
  std::vector<LoraParams> loras;
  // The parameters text names model files by name and short hash and records no input picture, so that a
  // shared picture discloses nothing of the user's file system. true (--infotext-paths) also records the
  // absolute paths (Init image, Model path, VAE path, Mask image, ControlNet N image / model path /
  // annotator path), for re-running pictures on the machine that made them.
  bool infotext_paths = false;
  // Where files named rather than given by path are looked up (models/models_folder.h): the models folder
  // (--models-dir; "" = $I2I_MODELS_DIR or ~/.local/share/i2i/models), and the LoRA (--lora-dir) and
  // textual-inversion (--embeddings-dir) folders ("" = its Lora/ and embeddings/).
  std::string models_dir, lora_dir, embeddings_dir;

  // Throws ParameterError naming the first bad value (parameter names as the fields are called: {strength},
  // {cfg_scale}, {mask_blur}, {control_weight}, {ip_adapter_scale}, ...).
  void validate() const;
};

// Replaces the model files `p` names by name (or as `org/name[@revision]` in the Hugging Face cache) with
// their paths (models/model_names.h resolve_model_file, in the models folder p.models_dir): the model, VAE,
// refiner, ControlNets, IP-Adapters and their image encoders, and the LoRAs given by file. Paths that exist
// stay as they are, so resolving twice changes nothing. Throws ParameterError naming the parameter
// ({model}, {vae}, {refiner}, {control_model}, {ip_adapter}, {image_encoder}, {lora}) for a name that
// matches several files or none. `model` false leaves p.model as it is (for a front end that checks the
// request before it loads the model: ModelSet::load resolves it then).
void resolve_model_files(GenerationParams& p, bool model = true);

// Longest prompt or negative prompt, in bytes (a prompt encodes at most kMaxPromptChunks x 75 tokens).
constexpr size_t kMaxPromptBytes = size_t{32} << 10;
// Largest width or height accepted (pixels); larger requests are refused before anything is allocated.
constexpr int kMaxGenerationSide = 8192;
// Largest seed (torch's CPU generator and A1111 take 32-bit seeds); image k of a run uses seed + k.
constexpr int64_t kMaxSeed = 4294967295LL;

}  // namespace i2i
