// The user's cache folder for i2i: what a run may keep for the next one (model hashes, kernel choices,
// the downloaded tokenizer).
#pragma once

#include <filesystem>

namespace i2i {

// $XDG_CACHE_HOME/i2i when XDG_CACHE_HOME is an absolute path, else $HOME/.cache/i2i; empty when neither is
// set. Read from the environment at each call (tests point it elsewhere).
std::filesystem::path user_cache_dir();

}  // namespace i2i
