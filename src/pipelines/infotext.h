// GenerationParams <-> AUTOMATIC1111's `parameters` text (the PNG infotext), so that an output PNG says
// how it was made and `--from-png` can make it again.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "io/parameters.h"
#include "models/model_lookup.h"
#include "pipelines/generation_params.h"

namespace i2i {

// The infotext of one image: A1111's keys (Steps, Sampler, Schedule type, CFG scale, Seed, Size, Model hash,
// Model, VAE hash, VAE, Denoising strength, Clip skip, Batch size / Batch pos) plus i2i's own (Resize mode,
// Version). SDXL: A1111's `Refiner: name [hash10]` and `Refiner switch at`; A1111 has no keys for the size
// conditioning, so i2i writes its own, only where they differ from the defaults: `SDXL original size`,
// `SDXL crops top left`, `SDXL target size`, their `SDXL negative ...` forms (as the flags take them, W,H
// / X,Y), and `Aesthetic score` / `Negative aesthetic score`. With a mask: A1111's Mask blur, Mask mode
// ("Inpaint not masked"), Masked content, Inpaint area
// ("Only masked") and Masked area padding, plus i2i's Inpaint composite. ControlNet units as the
// sd-webui-controlnet extension writes them (`ControlNet 0: "Module: canny, Model: x [hash8], Weight: 1,
// ..., Guidance Start: 0, Guidance End: 1, ..."`). IP-Adapter units follow the ControlNet units' numbers,
// as the extension writes its IP-Adapter units (infotext_units.h). A reference-only unit follows them
// (`ControlNet N: "Module: reference_only, Model: None, Weight: 1, ..., Threshold A: <style fidelity>, ..."`)
// with i2i's `ControlNet N reference attn weight` and `... reference adain weight`; the reader tells the
// units apart by their Module.
//
// Privacy: like A1111, the text names model files by name and short hash only (model_hash.h) and records
// no input picture, so that a shared picture discloses nothing of the user's file system. With
// GenerationParams::infotext_paths i2i's path keys are added - Init image, Model path, VAE path, Refiner
// path, Mask image,
// `ControlNet N image`, `ControlNet N model path`, `ControlNet N annotator path`, absolute - so that
// --from-png can re-run the picture on the machine that made it without being told where the files are. Every
// path key is written through one helper in infotext.cpp (write_path) that applies this rule.

// What kind of run the text describes (the images may have come from memory, with no path in the params).
struct InfotextKind {
  bool img2img = true;   // false (txt2img): no Denoising strength, as A1111's txt2img writes it
  bool inpaint = false;  // the mask options are written
};
// The short hashes of the files a run used, worked out once per run (reading a multi-GB checkpoint is not
// repeated per picture). "" where unknown: the hash is not written.
struct InfotextHashes {
  std::string model;                  // A1111's `Model hash` (model_short_hash)
  std::string vae;                    // `VAE hash`
  std::vector<std::string> controls;  // per unit, the extension's 8-digit hash (controlnet_short_hash)
  std::string refiner;                // the SDXL refiner's `Model hash`
  std::string loras;                  // `Lora hashes` ("name: hash, ..."; lora_request.h lora_hashes)
  // The textual-inversion embeddings the prompts used: (name, A1111's short hash: the first 12 hex digits
  // of the file's SHA-256), written as A1111's `TI hashes: "name: hash, ..."` (each name once).
  std::vector<std::pair<std::string, std::string>> embeddings;
};
// The hashes of p.model, p.vae and each unit's model. A file that cannot be read (e.g. a library caller's
// model name that is no path) gets none: the text is never a reason for a run to fail.
InfotextHashes infotext_hashes(const GenerationParams& p);
// Paths that are empty (pictures given in memory) are not written.
GenerationParameters make_infotext(const GenerationParams& p, int64_t seed, int width, int height,
                                   int batch_pos, InfotextKind kind, const InfotextHashes& hashes = {});

// Fills `p` from an infotext (the keys above; the path keys where recorded; names and hashes are left to
// recorded_models; unknown keys are ignored). Throws i2i::Error naming a key
// whose value cannot be read.
void apply_infotext(const GenerationParameters& info, GenerationParams& p);

// The model files an infotext names (Model / Model hash, VAE / VAE hash, each ControlNet unit's "Model:
// name [hash]"), for finding them again when it records no paths (model_lookup.h).
struct RecordedModels {
  ModelRef model;
  ModelRef vae;
  // index i: GenerationParams::controls[i] as apply_infotext fills it (the ControlNet units in N order,
  // IP-Adapter and reference units left out); empty refs for units without a model
  std::vector<ModelRef> controls;
  ModelRef refiner;  // A1111's "Refiner: name [hash]"
};
RecordedModels recorded_models(const GenerationParameters& info);

// The infotext key a request parameter (ParameterError's {name}) is read from: "steps" -> "Steps",
// "cfg_scale" -> "CFG scale", "width" -> "Size"; a unit's field for unit parameters ("control_weight" ->
// "Weight", of a "ControlNet N" key); "" for parameters no key sets. For errors that name what the user
// gave: a value from a picture's text is named by its key, not by a flag the user never gave.
std::string infotext_key_for_parameter(const std::string& name);
// Whether `info` has the key infotext_key_for_parameter(name) names (for unit fields: any "ControlNet N"
// unit).
bool infotext_sets_parameter(const GenerationParameters& info, const std::string& name);

// The keys of `info` that change the picture in A1111 but that i2i cannot honour (Eta, ENSD, the Hires.
// fix keys, variation seeds, ...), so that re-running from the text can say the result will differ.
std::vector<std::string> unhonoured_infotext_keys(const GenerationParameters& info);

// Shortest decimal text that reads back as the same double ("7", "0.75").
std::string format_number(double v);

}  // namespace i2i
