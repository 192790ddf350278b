#include "server/json_body.h"

#include "server/http_error.h"

namespace i2i::server {
using nlohmann::json;

json parse_json_body(const std::string& body, int max_depth) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (char c : body) {
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"')
      in_string = true;
    else if (c == '[' || c == '{') {
      if (++depth > max_depth)
        throw validation_error(json::array({"body"}),
                               "JSON nested more than " + std::to_string(max_depth) + " deep");
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  try {
    return json::parse(body);
  } catch (const json::parse_error& e) {
    std::string msg = e.what();
    throw HttpError(422,
                    {{"detail", json::array({{{"loc", json::array({"body", static_cast<int64_t>(e.byte)})},
                                              {"msg", "JSON decode error: " + msg},
                                              {"type", "value_error.jsondecode"}}})}},
                    msg);
  } catch (const json::exception& e) {  // a number out of range (1e999)
    throw HttpError(422,
                    {{"detail", json::array({{{"loc", json::array({"body"})},
                                              {"msg", std::string("JSON decode error: ") + e.what()},
                                              {"type", "value_error.jsondecode"}}})}},
                    e.what());
  }
}

}  // namespace i2i::server
