// The user's cache folder for i2i: what a run may keep for the next one (model hashes, kernel choices,
// the downloaded tokenizer).
#pragma once

#include <filesystem>

namespace i2i {

// $XDG_CACHE_HOME/i2i when XDG_CACHE_HOME is an absolute path, else $HOME/.cache/i2i when HOME is one;
// empty otherwise (a relative value would put the cache in whatever folder the program runs in). Read from
// the environment at each call (tests point it elsewhere).
std::filesystem::path user_cache_dir();

}  // namespace i2i
