// JSON as Python's json module writes it: besides standard JSON it may contain the bare tokens NaN,
// Infinity and -Infinity (e.g. diffusers' "lambda_min_clipped": -Infinity). nlohmann::json rejects them, so
// they are turned into the strings "NaN", "Infinity", "-Infinity" before parsing; json_number() reads a
// number or one of those strings back as a double.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace i2i {

// Parses `text`; throws i2i::Error naming `what` (e.g. the file) on malformed JSON.
nlohmann::json parse_python_json(std::string_view text, const std::string& what);
// A number, or "NaN" / "Infinity" / "-Infinity" as produced by parse_python_json. Throws i2i::Error
// otherwise.
double json_number(const nlohmann::json& value, const std::string& what);

}  // namespace i2i
