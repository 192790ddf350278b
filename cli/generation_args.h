// The options `i2i img2img` and `i2i inpaint` share (the img2img ones, the mask ones, ControlNet units) and
// turning them, with --from-png, into GenerationParams.
#pragma once

#include <vector>

#include "args.h"
#include "pipelines/generation.h"
#include "pipelines/generation_params.h"
#include "pipelines/sd_model.h"

namespace i2i::cli {

// The options of `img2img` and `inpaint` (the same; only the usage text differs).
const std::vector<OptionSpec>& generation_options();
// The options of `txt2img`: those of img2img without --init, --strength and the mask options.
const std::vector<OptionSpec>& txt2img_options();

// --vae, --tokenizer, --model-config, --prediction, --precision as model loading options.
// (the VAE as the params have it: --vae or --from-png's).
SdModelOptions model_options_from_args(const Args& a, const GenerationParams& p);

// The command-line flag for a library parameter name (ParameterError's {names}): "cfg_scale" ->
// "--cfg-scale", "control_image" -> "--control".
std::string flag_for_parameter(const std::string& name);

// How an error names a request parameter: its flag when the user gave it (or no --from-png picture set
// it), else the key of the --from-png picture that set it ("'Steps' in x.png"): a bad value read from a
// picture is not blamed on a flag the user never gave.
std::string name_parameter(const Args& a, const std::string& name);
// The keys of the --from-png picture that i2i cannot honour (Eta, ENSD, Hires. fix ...) as one line
// ("x.png records Eta 0.5, Hires steps 20, which i2i does not support (ignored): ..."); "" for none.
std::string from_png_warning(const Args& a);

enum class GenerationCommand { Img2Img, Inpaint, Txt2Img };
// The request the flags describe (generation_params_from_args, the flags each command requires, txt2img's
// default size 512x512, --noise-file), model files given by name resolved to paths (resolve_model_files;
// --model itself is resolved by ModelSet::load). Throws i2i::Error naming the flag.
GenerationRequest generation_request_from_args(const Args& a, GenerationCommand command);

// The parameters recorded in --from-png (if given) overridden by the flags given. Mask options replace the
// recorded ones one by one; --control flags replace the recorded ControlNet units as a whole, except that
// for a picture recording its units without their images (no --infotext-paths) one --control per recorded
// unit gives each unit its image and keeps its settings. Per-unit options (--control-model,
// --control-weight, --control-start, --control-end, --control-preprocess, --canny-low, --canny-high,
// --annotator-model, --control-resolution): the i-th value belongs to the i-th --control; units without one
// keep the default (or the recorded value).
// The model files the picture names by name and hash (model, VAE, ControlNets) and no flag gives are found
// with find_model (models/model_lookup.h) in the folder of --model - or --model itself when it is a folder
// of models rather than a model - the current folder, and the models folder's checkpoint, VAE and
// ControlNet folders; a recorded path (--infotext-paths) that still
// exists is used as it is. Throws i2i::Error for more values than --control images, unreadable numbers, or
// a recorded model that is not found (naming its name and hash, asking for the flag). IP-Adapter units: each
// --ip-adapter starts a unit taking the --ip-adapter-image, -scale, -mode, -layers and --image-encoder flags
// after it; given --ip-adapter flags replace the recorded units as a whole (a unit flag given twice for one
// unit or without --ip-adapter is an error).
GenerationParams generation_params_from_args(const Args& a);

}  // namespace i2i::cli
