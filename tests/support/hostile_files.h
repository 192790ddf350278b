// The probe set of issue 14 as a test: a generator of the files a stranger could hand i2i (checkpoints with
// hostile safetensors headers, image bombs and truncated or odd pictures, masks, PNG parameters texts,
// sidecars, output paths) and of valid but odd pictures (16-bit PNG, CMYK JPEG, EXIF rotation, animated
// WebP). Each probe writes its files into a folder of its own and says how to run the CLI on them and what
// must happen: a one-line error containing `expect`, or (valid inputs) a picture equal to `want`.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "io/image.h"

namespace i2i::test {

struct HostileProbe {
  std::string name;  // a gtest name
  // Writes the probe's files into `dir` (empty, the command's working folder) and returns the i2i
  // arguments.
  std::function<std::vector<std::string>(const std::filesystem::path& dir)> make;
  // Hostile: a part of the expected one-line error. Empty: a valid input, the command writes `output`.
  std::string expect;
  // Valid inputs: the picture the command must write to out.png (preprocess canny of the decoded input).
  std::function<Image()> want;
  // Lossy inputs (JPEG): the fraction of output values allowed to differ from `want`.
  double tolerance = 0;
};

// Every probe (about fifty; each runs in well under a second, the valid ones in about one).
const std::vector<HostileProbe>& hostile_probes();

}  // namespace i2i::test
