// `i2i preprocess NAME IMAGE ... -o OUT.png`: the control maps a ControlNet will see, one handler per
// preprocessor, each in its own cmd_preprocess_NAME.cpp and listed in the table of cmd_preprocess.cpp.
// A handler gets the whole command line (argv[2] is NAME; its options start at argv[3]) and returns the
// exit status; errors are thrown as i2i::Error.
#pragma once

#include <filesystem>
#include <string>
#include <utility>

#include "core/error.h"

namespace i2i::cli {

class Args;

struct PreprocessCommand {
  const char* name;     // i2i preprocess NAME
  const char* summary;  // one line for `i2i preprocess --help`
  int (*run)(int argc, char** argv);
};

// The map's output name: --output (default `fallback`), checked before any work (check_output: a PNG name
// in a folder that can be written), and numbered when taken unless --overwrite.
std::filesystem::path preprocess_output(const Args& a, const char* fallback);

// The annotator network for preprocessor `module` (A1111's module name): --annotator-model (a path, or a
// name in the annotator folders), else the module's usual file found in the annotator folders of
// --models-dir (preprocess/annotator_lookup.h). Throws ParameterError listing where it looked.
std::filesystem::path preprocess_annotator(const Args& a, const char* module);

// Runs `check` (a check of the picture `image_path` holds, by size) and puts the file's name before the
// message of a plain i2i::Error it throws ("in.png: the picture is 1x1: ..."); a ParameterError (it names
// its parameter and value) and an OutOfMemory pass unchanged.
template <typename Check>
void naming_the_picture(const std::string& image_path, Check&& check) {
  try {
    std::forward<Check>(check)();
  } catch (const ParameterError&) {
    throw;
  } catch (const OutOfMemory&) {
    throw;
  } catch (const Error& e) {
    throw Error(image_path + ": " + e.what());
  }
}

// The --models-dir help text of the preprocessors that run a network.
extern const char* const kModelsDirHelp;

int cmd_preprocess_canny(int argc, char** argv);
int cmd_preprocess_depth(int argc, char** argv);
int cmd_preprocess_openpose(int argc, char** argv);
int cmd_preprocess_lineart(int argc, char** argv);
int cmd_preprocess_softedge(int argc, char** argv);

}  // namespace i2i::cli
