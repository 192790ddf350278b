// The web page's files (everything under web/), compiled into the binary by cmake/embed_web.cmake: the
// server answers / with index.html and /PATH with the file web/PATH, from memory only.
#pragma once

#include <optional>
#include <string_view>
#include <vector>

namespace i2i::server {

struct WebAsset {
  std::string_view content_type;
  std::string_view bytes;
};

// The file at `path` relative to web/ ("index.html", "assets/app.js"), or nullopt.
std::optional<WebAsset> find_web_asset(std::string_view path);
// Every embedded path, sorted.
std::vector<std::string_view> web_asset_paths();

}  // namespace i2i::server
