// The ControlNet preprocessors ("annotators") by the module names of AUTOMATIC1111's sd-webui-controlnet
// extension (Mikubill/sd-webui-controlnet, scripts/preprocessor/legacy/*), as a table written as data: one
// row per module with its A1111 defaults (processor resolution, what Threshold A / B mean) and the function
// that turns a source picture into the control map. --control-preprocess NAME, the parameters text's "Module:
// NAME" and the C API all go through this table.
//
// Rows whose map comes from a network (needs_annotator) load the annotator file for the call and release it
// afterwards. (This file sits above src/models: it is the one place in src/preprocess that runs networks.)
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "io/image.h"
#include "kernels/precision.h"

namespace i2i {

// Smallest and largest processor resolution accepted (A1111's "Processor Res" slider offers 64 .. 2048).
constexpr int kMinProcessorResolution = 64;
constexpr int kMaxProcessorResolution = 4096;

// What one preprocessor call is given besides the picture.
struct ControlPreprocessSettings {
  int resolution = 512;                     // A1111's "Processor Res" (processor_res in its API)
  double threshold_a = 0, threshold_b = 0;  // A1111's "Threshold A" / "Threshold B" (meaning per row)
  std::filesystem::path annotator_model;    // the annotator network's file (rows with needs_annotator)
  Precision precision = Precision::F32;     // compute precision of the annotator network
  bool colored = false;                     // depth: A1111's colour-mapped variant instead of grey
};

struct ControlPreprocessor {
  const char* name;      // A1111's module name, as "Module: NAME" records it
  const char* summary;   // one line for --help texts
  bool needs_annotator;  // the map comes from a network: --annotator-model FILE
  // true: runs on the source picture at `resolution` (A1111's resize-and-pad), and its map is then resized to
  // the generation size; false: runs on the control image already at the generation size (i2i's Canny).
  bool uses_resolution;
  int default_resolution;   // A1111's default Processor Res (512)
  const char* threshold_a;  // A1111's slider name for Threshold A ("Low Threshold"); nullptr = unused
  double default_threshold_a;
  const char* threshold_b;  // nullptr = unused
  double default_threshold_b;
  // The control map (8-bit, 1 or 3 channels) of `source`; nullptr = the picture is the map ("none").
  // Throws i2i::Error naming the file or value on bad input.
  Image (*run)(const Image& source, const ControlPreprocessSettings& settings);
  // The annotator's usual file names without extension, preferred first, as A1111's ControlNet extension
  // and ComfyUI's controlnet_aux download them (their .pth files converted to .safetensors under the same
  // name): used when no --annotator-model is given (preprocess/annotator_lookup.h). Empty: no network.
  std::vector<std::string> annotator_files = {};
};

// Every row, in the order --help lists them.
const std::vector<ControlPreprocessor>& control_preprocessors();
// The row named `name` (exactly A1111's module name), or nullptr.
const ControlPreprocessor* find_control_preprocessor(std::string_view name);
// The row named `name`; ParameterError naming {control_preprocess} and the valid names otherwise.
const ControlPreprocessor& control_preprocessor(std::string_view name);
// "none, canny, depth_anything_v2, ..." for messages and --help.
std::string control_preprocessor_names();

}  // namespace i2i
