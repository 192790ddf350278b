// Output file naming: nothing the user has is overwritten unless asked. out.png is taken if free, else
// out-1.png, out-2.png, ... A name is taken when anything is there, a dangling symbolic link included.
//
// Every command that writes files checks its output names with check_output before any work (issue 14
// item 9): a generation that runs for minutes must not fail at the end for a name it could not write.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

namespace i2i::cli {

// The next free output name starting from candidate `next` (advanced past the name returned); with
// `overwrite`, simply the next name in sequence.
std::filesystem::path next_output(const std::filesystem::path& base, int& next, bool overwrite);

struct OutputCheck {
  std::string flag = "--output";   // how the user gave the name, for the messages ("": a positional name)
  const char* extension = ".png";  // the name must end so (any case); nullptr: any name
  const char* why_extension = "i2i writes PNG files (they carry the generation parameters)";
  bool overwrite = false;  // --overwrite: the names are replaced, not numbered
  bool numbered = true;    // false: the one name itself, refused if taken without --overwrite
  int64_t count = 1;       // how many files will be written under numbered names
};
// Checks, before any work, that the files `opts` describes can be written under `base`: the extension, a
// folder that exists and can be written (a temporary file is made there and removed), file names within
// the file system's length limit, no folder where --overwrite would replace a file, and (not numbered)
// nothing at the name without --overwrite. Throws i2i::Error "<flag> <base>: ...".
void check_output(const std::filesystem::path& base, const OutputCheck& opts);

}  // namespace i2i::cli
