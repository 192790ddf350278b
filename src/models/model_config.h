// Small helpers shared by the model configuration readers: typed json fields with defaults and errors
// that name the field, and counting indexed tensor groups in Weights. Config files themselves are read
// with read_config_json (io/config_file.h, included here).
#pragma once

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <type_traits>

#include "core/error.h"
#include "io/config_file.h"
#include "io/python_json.h"
#include "models/weights.h"

namespace i2i {

// True when `v` is a number whose value T (an integer type) holds exactly: an integer in range, or a
// float with an integral value in range (so that a hostile 1e300 is not converted, which is undefined).
template <typename T>
bool json_fits_integer(const nlohmann::json& v) {
  if (v.is_number_unsigned())
    return v.get<uint64_t>() <= static_cast<uint64_t>(std::numeric_limits<T>::max());
  if (v.is_number_integer()) {
    const int64_t i = v.get<int64_t>();
    return i >= static_cast<int64_t>(std::numeric_limits<T>::min()) &&
           i <= static_cast<int64_t>(std::numeric_limits<T>::max());
  }
  if (!v.is_number_float()) return false;
  const double d = v.get<double>();
  // max + 1 is a power of two, exact as a double (max itself may not be).
  return std::floor(d) == d && d >= static_cast<double>(std::numeric_limits<T>::min()) &&
         d < static_cast<double>(std::numeric_limits<T>::max()) + 1.0;
}

// j[key] as T; `fallback` when the key is absent or null; an i2i::Error naming the key on a type mismatch.
// Floating-point fields also take the strings "NaN", "Infinity", "-Infinity" (json_number); integer
// fields (and lists of them) take only values the type holds.
template <typename T>
T json_get(const nlohmann::json& j, const char* key, const T& fallback, const std::string& origin) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  const std::string bad = origin + ": config field '" + key + "' has an unexpected value ";
  if constexpr (std::is_floating_point_v<T>) {
    return static_cast<T>(json_number(*it, origin + ": config field '" + key + "'"));
  } else if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    if (!json_fits_integer<T>(*it)) throw Error(bad + json_excerpt(*it));
  } else if constexpr (std::is_same_v<T, std::vector<int64_t>>) {
    if (it->is_array())
      for (const auto& e : *it)
        if (!json_fits_integer<int64_t>(e)) throw Error(bad + json_excerpt(*it));
  }
  try {
    return it->get<T>();
  } catch (const nlohmann::json::exception&) {
    throw Error(bad + json_excerpt(*it));
  }
}

// The number of consecutive indices N = 0, 1, ... for which some tensor name starts with prefix + "N.".
int count_indexed(const Weights& w, const std::string& prefix);

}  // namespace i2i
