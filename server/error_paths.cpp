#include "server/error_paths.h"

#include <filesystem>

namespace i2i::server {
namespace fs = std::filesystem;

namespace {

bool ends_path(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\'' || c == '"' || c == ',' || c == ';' || c == '(' ||
         c == ')' || c == '[' || c == ']' || c == '<' || c == '>' || c == '`';
}

}  // namespace

std::string without_server_paths(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const bool starts =
        text[i] == '/' && (i == 0 || ends_path(text[i - 1]) || text[i - 1] == ':' || text[i - 1] == '=');
    if (!starts) {
      out.push_back(text[i++]);
      continue;
    }
    size_t end = i;
    while (end < text.size() && !ends_path(text[end])) ++end;
    std::string path = text.substr(i, end - i);
    // (a sentence's full stop or colon after the path is not part of it)
    std::string tail;
    while (!path.empty() && (path.back() == '.' || path.back() == ':')) {
      tail.insert(tail.begin(), path.back());
      path.pop_back();
    }
    const size_t second = path.find('/', 1);
    std::error_code ec;
    const bool server_path =
        second != std::string::npos && second > 1 && fs::is_directory(path.substr(0, second), ec);
    if (server_path) {
      while (path.size() > 1 && path.back() == '/') path.pop_back();
      out += path.substr(path.rfind('/') + 1);
    } else {
      out += path;
    }
    out += tail;
    i = end;
  }
  return out;
}

nlohmann::json json_without_server_paths(const nlohmann::json& value) {
  if (value.is_string()) return without_server_paths(value.get_ref<const std::string&>());
  if (value.is_array()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& v : value) out.push_back(json_without_server_paths(v));
    return out;
  }
  if (value.is_object()) {
    nlohmann::json out = nlohmann::json::object();
    for (auto it = value.begin(); it != value.end(); ++it)
      out[without_server_paths(it.key())] = json_without_server_paths(it.value());
    return out;
  }
  return value;
}

}  // namespace i2i::server
