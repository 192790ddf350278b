// What the running command is doing, in words ("loading the model m.safetensors"), for the errors that
// cannot say it themselves: main() reports std::bad_alloc as "out of memory while <stage>".
#pragma once

#include <string>
#include <utility>

namespace i2i::cli {

inline std::string& current_stage() {
  static std::string stage = "reading the command line";
  return stage;
}
inline void set_stage(std::string stage) {
  current_stage() = std::move(stage);
}

}  // namespace i2i::cli
