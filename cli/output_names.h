// Output file naming: nothing the user has is overwritten unless asked. out.png is taken if free, else
// out-1.png, out-2.png, ...
#pragma once

#include <filesystem>

namespace i2i::cli {

// The next free output name starting from candidate `next` (advanced past the name returned); with
// `overwrite`, simply the next name in sequence.
std::filesystem::path next_output(const std::filesystem::path& base, int& next, bool overwrite);
// Checks an output name before any work: a .png name (PNGs carry the parameters text) in a folder that
// exists. Throws i2i::Error naming --output.
void check_png_output(const std::filesystem::path& path);

}  // namespace i2i::cli
