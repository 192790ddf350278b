// Error type used across i2i: every failure a user can cause is reported as an i2i::Error whose message
// is one line naming the problem (and the file or tensor involved).
#pragma once

#include <stdexcept>
#include <string>

namespace i2i {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// Throws i2i::Error(message) unless `condition` holds.
inline void check(bool condition, const std::string& message) {
  if (!condition) throw Error(message);
}

}  // namespace i2i
