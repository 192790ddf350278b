#include "core/user_cache.h"

#include <cstdlib>

namespace i2i {

std::filesystem::path user_cache_dir() {
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  if (xdg && *xdg && std::filesystem::path(xdg).is_absolute()) return std::filesystem::path(xdg) / "i2i";
  const char* home = std::getenv("HOME");
  if (home && *home && std::filesystem::path(home).is_absolute())
    return std::filesystem::path(home) / ".cache" / "i2i";
  return {};
}

}  // namespace i2i
