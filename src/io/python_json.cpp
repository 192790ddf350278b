#include "io/python_json.h"

#include <limits>

#include "core/error.h"
#include "io/config_file.h"

namespace i2i {

nlohmann::json parse_python_json(std::string_view text, const std::string& what) {
  // nlohmann::json would take a NUL byte for the end of the input and ignore whatever follows.
  if (const size_t nul = text.find('\0'); nul != std::string_view::npos)
    throw Error(what + ": invalid JSON (a NUL byte at offset " + std::to_string(nul) + ")");
  std::string out;
  out.reserve(text.size() + 64);
  bool in_string = false;
  int depth = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      out += c;
      if (c == '\\' && i + 1 < text.size()) {
        out += text[++i];
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
      out += c;
      continue;
    }
    if ((c == '[' || c == '{') && ++depth > kMaxJsonDepth)
      throw Error(what + ": invalid JSON (nested deeper than " + std::to_string(kMaxJsonDepth) + " levels)");
    if ((c == ']' || c == '}') && depth > 0) --depth;
    bool replaced = false;
    for (std::string_view token : {"-Infinity", "Infinity", "NaN"}) {
      if (text.substr(i, token.size()) == token) {
        out += '"';
        out += token;
        out += '"';
        i += token.size() - 1;
        replaced = true;
        break;
      }
    }
    if (!replaced) out += c;
  }
  try {
    return nlohmann::json::parse(out);
  } catch (const nlohmann::json::exception& e) {
    throw Error(what + ": invalid JSON (" + printable_excerpt(e.what()) + ")");
  }
}

double json_number(const nlohmann::json& value, const std::string& what) {
  if (value.is_number()) return value.get<double>();
  if (value.is_string()) {
    const std::string& s = value.get_ref<const std::string&>();
    if (s == "Infinity") return std::numeric_limits<double>::infinity();
    if (s == "-Infinity") return -std::numeric_limits<double>::infinity();
    if (s == "NaN") return std::numeric_limits<double>::quiet_NaN();
  }
  throw Error(what + ": expected a number, got " + json_excerpt(value));
}

std::string json_excerpt(const nlohmann::json& value) {
  constexpr size_t kMax = 100;
  std::string text = value.dump(-1, ' ', /*ensure_ascii=*/true);
  if (text.size() > kMax) text = text.substr(0, kMax) + "...";
  return text;
}

}  // namespace i2i
