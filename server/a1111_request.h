// AUTOMATIC1111's /sdapi/v1/txt2img and /sdapi/v1/img2img request bodies (A1111 1.10: modules/api/models.py,
// the StableDiffusionProcessing* dataclasses of modules/processing.py and api.py's handlers) mapped onto one
// i2i GenerationRequest, with A1111's defaults for absent fields (steps 50, cfg_scale 7, 512 x 512,
// sampler_index "Euler", denoising_strength 0.75, mask_blur 4, inpainting_fill 0 "fill", inpaint_full_res
// true, inpaint_full_res_padding 0, resize_mode 0) and ControlNet units from
// alwayson_scripts.controlnet.args (sd-webui-controlnet's API: module "none" / "canny", `image` or the
// legacy `input_image`, the model by its listed title). Units with the extension's IP-Adapter modules
// (`ip-adapter_clip_sd15`, `ip-adapter_clip_h`, ...: `model` names an adapter file in ipadapter/ or
// ControlNet/, its image encoder found beside it as the CLI finds it, `weight` the scale) become IP-Adapter
// units; the annotator modules (depth_anything_v2, openpose, lineart / lineart_realistic, lineart_coarse,
// hed / softedge_hed, hed_safe / softedge_hedsafe) run the preprocessor on the unit's picture with the file
// ModelCatalog::find_annotator finds, at processor_res (or pixel perfect's resolution);
// `reference_only` / `reference_adain` / `reference_adain+attn` the reference unit, as the extension's
// hook reads it (scripts/hook.py): style fidelity = threshold_a clamped to [0, 1] (0.5 when unset), 0 with
// control_mode "My prompt is more important", 1 with "ControlNet is more important"; `weight` the attention
// (reference_only), AdaIN (reference_adain) or both auto machine weights.
//
// Unknown fields are ignored as A1111 ignores them; known fields set to something i2i cannot do (restore
// faces, tiling, eta, subseeds, hires fix, scripts, ...) are listed in `ignored` for the response's info,
// never dropped silently. Pictures are base64 or data URLs, decoded here with the --max-pixels limit; a
// malformed value answers 422 naming the field (FastAPI's loc), an unknown sampler or model 404.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "pipelines/generation.h"
#include "server/http_error.h"
#include "server/model_catalog.h"

namespace i2i::server {

enum class GenerationMode { Txt2Img, Img2Img };

struct A1111Request {
  GenerationMode mode = GenerationMode::Txt2Img;
  GenerationRequest request;         // params + decoded pictures (no paths)
  nlohmann::json parameters;         // the body with A1111's defaults filled in (the response's echo)
  std::vector<std::string> ignored;  // "restore_faces", "override_settings.sd_vae", ...
  std::string checkpoint;            // override_settings.sd_model_checkpoint ("" = the loaded one)
  bool send_images = true;
  bool include_init_images = false;
  int64_t subseed = -1;
  double subseed_strength = 0;
  // POST /i2i/v1/batch: the pictures the request runs on one after another (each its init image), and
  // the names their results get (safe file names, no extension).
  std::vector<Image> batch_inputs;
  std::vector<std::string> batch_names;
  // Per ControlNet unit: it was given no picture and takes the init image (so each folder picture's). The
  // worker gives it the picture when the job runs: no copy per unit while the job waits.
  std::vector<bool> control_from_init;
  // The same for the IP-Adapter units (p.ip_adapters) and the reference unit.
  std::vector<bool> ip_adapter_from_init;
  bool reference_from_init = false;
};

// ControlNet units one request may have (the extension's max_models_num is 3 by default).
inline constexpr size_t kMaxControlNetUnits = 8;
// n_iter x batch_size x steps one request may run (A1111's defaults are 1 x 1 x 50).
inline constexpr int64_t kMaxStepsPerRequest = 10000;

struct RequestLimits {
  // Largest width x height of a picture sent or generated, and of batch_size x width x height.
  int64_t max_pixels = int64_t{2048} * 2048;
  std::string models_dir;  // where prompt LoRA / embedding names are looked up ("" = the default folder)
};

// Throws HttpError (422 / 404) for a body that cannot be honoured: map_a1111_request, then
// check_a1111_request.
A1111Request parse_a1111_request(const nlohmann::json& body, GenerationMode mode, const ModelCatalog& catalog,
                                 const RequestLimits& limits);
// The mapping alone: A1111's fields onto the request, pictures decoded, models looked up in the catalog,
// every field's type and range; no library check (the libFuzzer harness fuzz/a1111_request.cpp runs this
// part, which needs no more of the engine than the readers, the samplers' names and the model files' names).
A1111Request map_a1111_request(const nlohmann::json& body, GenerationMode mode, const ModelCatalog& catalog,
                               const RequestLimits& limits);
// The library's checks of the mapped request (validate_request: settings, sampler and schedule, LoRAs and
// embeddings the prompt names) as 422s (server/a1111_checks.cpp).
void check_a1111_request(A1111Request& request);

// A library ParameterError as A1111's 422: its {parameter} names as the request's fields (loc included),
// e.g. {clip_skip} as override_settings.CLIP_stop_at_last_layers.
HttpError a1111_parameter_error(const ParameterError& e);

// GET /controlnet/module_list: the unit modules parse_a1111_request runs (annotator modules only when their
// file is in the models folder), with the extension's sliders; `alias_names`: the names its UI shows
// ("softedge_hed") instead of its API's ("hed").
nlohmann::json controlnet_module_list(const ModelCatalog& catalog, bool alias_names);

// A picture field's value (base64 or a data URL) decoded; 422 naming `loc` when it is not a picture or is
// larger than max_pixels.
Image decode_request_image(const nlohmann::json& value, const nlohmann::json& loc, int64_t max_pixels);
// The same for a picture file's bytes (a multipart upload).
Image decode_request_bytes(const std::vector<uint8_t>& bytes, const nlohmann::json& loc, int64_t max_pixels);

}  // namespace i2i::server
