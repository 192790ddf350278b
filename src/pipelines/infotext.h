// GenerationParams <-> AUTOMATIC1111's `parameters` text (the PNG infotext), so that an output PNG says
// how it was made and `--from-png` can make it again.
#pragma once

#include <cstdint>

#include "io/parameters.h"
#include "pipelines/generation_params.h"

namespace i2i {

// The infotext of one image: A1111's keys (Steps, Sampler, Schedule type, CFG scale, Seed, Size, Model,
// VAE, Denoising strength, Clip skip, Batch size / Batch pos) plus i2i's own (Init image, Resize mode,
// Model path, Version) so that --from-png can re-run it. With a mask: A1111's Mask blur, Mask mode ("Inpaint
// not masked"), Masked content, Inpaint area ("Only masked") and Masked area padding, plus i2i's Mask image
// and Inpaint composite. ControlNet units as the sd-webui-controlnet extension writes them (`ControlNet 0:
// "Module: canny, Model: x, Weight: 1, ..., Guidance Start: 0, Guidance End: 1, ..."`), plus i2i's
// `ControlNet 0 image` and `ControlNet 0 model path`. IP-Adapter units follow the ControlNet units'
// numbers, as the extension writes its IP-Adapter units (infotext_units.h).
// What kind of run the text describes (the images may have come from memory, with no path in the params).
struct InfotextKind {
  bool img2img = true;   // false (txt2img): no Denoising strength, as A1111's txt2img writes it
  bool inpaint = false;  // the mask options are written
};
// Paths that are empty (pictures given in memory) are not written.
GenerationParameters make_infotext(const GenerationParams& p, int64_t seed, int width, int height,
                                   int batch_pos, InfotextKind kind);

// Fills `p` from an infotext (the keys above; unknown keys are ignored). Throws i2i::Error naming a key
// whose value cannot be read.
void apply_infotext(const GenerationParameters& info, GenerationParams& p);

// Shortest decimal text that reads back as the same double ("7", "0.75").
std::string format_number(double v);

}  // namespace i2i
