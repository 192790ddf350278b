// JSON as Python's json module writes it: besides standard JSON it may contain the bare tokens NaN,
// Infinity and -Infinity (e.g. diffusers' "lambda_min_clipped": -Infinity). nlohmann::json rejects them, so
// they are turned into the strings "NaN", "Infinity", "-Infinity" before parsing; json_number() reads a
// number or one of those strings back as a double. Nesting deeper than kMaxJsonDepth is refused before
// parsing (nlohmann::json copies, compares and dumps values recursively, so a hostile file of 100000 '['
// would otherwise overflow the stack later).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace i2i {

// Arrays and objects nested deeper than this are an error (configs nest 2 or 3 levels).
constexpr int kMaxJsonDepth = 256;

// Parses `text`; throws a one-line i2i::Error naming `what` (e.g. the file) on malformed JSON (the parser's
// message is cut short and stripped of control and non-ASCII bytes), a NUL byte anywhere, or nesting
// deeper than kMaxJsonDepth.
nlohmann::json parse_python_json(std::string_view text, const std::string& what);
// A number, or "NaN" / "Infinity" / "-Infinity" as produced by parse_python_json. Throws i2i::Error
// otherwise.
double json_number(const nlohmann::json& value, const std::string& what);
// `value` as JSON text for an error message: ASCII only, cut to at most ~100 characters.
std::string json_excerpt(const nlohmann::json& value);

}  // namespace i2i
