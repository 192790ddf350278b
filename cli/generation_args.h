// The options `i2i img2img` and `i2i inpaint` share (the img2img ones, the mask ones, ControlNet units) and
// turning them, with --from-png, into GenerationParams.
#pragma once

#include <vector>

#include "args.h"
#include "pipelines/generation_params.h"

namespace i2i::cli {

// `inpaint`: the same options; only the usage text differs.
const std::vector<OptionSpec>& generation_options();

// The parameters recorded in --from-png (if given) overridden by the flags given. Mask options replace the
// recorded ones one by one; --control flags replace the recorded ControlNet units as a whole. Per-unit
// options (--control-model, --control-weight, --control-start, --control-end, --control-preprocess,
// --canny-low, --canny-high): the i-th value belongs to the i-th --control; units without one keep the
// default. Throws i2i::Error for more values than --control images or unreadable numbers.
GenerationParams generation_params_from_args(const Args& a);

}  // namespace i2i::cli
