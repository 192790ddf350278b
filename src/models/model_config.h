// Small helpers shared by the model configuration readers: typed json fields with defaults and errors
// that name the field, json files, and counting indexed tensor groups in Weights.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "core/error.h"
#include "models/weights.h"

namespace i2i {

// j[key] as T; `fallback` when the key is absent or null; an i2i::Error naming the key on a type mismatch.
template <typename T>
T json_get(const nlohmann::json& j, const char* key, const T& fallback, const std::string& origin) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  try {
    return it->get<T>();
  } catch (const nlohmann::json::exception&) {
    throw Error(origin + ": config field '" + key + "' has an unexpected value " + it->dump());
  }
}

// Parses a json file; i2i::Error naming the file when it cannot be read or parsed.
nlohmann::json read_json_file(const std::filesystem::path& path);

// The number of consecutive indices N = 0, 1, ... for which some tensor name starts with prefix + "N.".
int count_indexed(const Weights& w, const std::string& prefix);

}  // namespace i2i
