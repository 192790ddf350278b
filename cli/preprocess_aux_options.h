// Options shared by the `i2i preprocess` handlers that follow controlnet_aux's detectors (lineart, softedge):
// their resolutions and the annotator network's precision.
#pragma once

#include <filesystem>

#include "args.h"
#include "kernels/precision.h"

namespace i2i::cli {

// --NAME as a resolution (default 512, controlnet_aux's) within [kMinProcessorResolution,
// kMaxProcessorResolution] (control_preprocessors.h); i2i::Error naming the flag otherwise.
int resolution_option(const Args& a, const char* name);

// The network's precision from --precision: auto resolves as for the UNet (resolve_precision) with the
// parameter count estimated from the file's size as if 16-bit, so the real line-art and HED networks (4M /
// 15M parameters) stay float32.
Precision annotator_precision(const Args& a, const std::filesystem::path& model);

}  // namespace i2i::cli
