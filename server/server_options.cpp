#include "server/server_options.h"

#include "core/error.h"

namespace i2i::server {

std::vector<std::string> split_list(const std::string& list) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= list.size()) {
    size_t comma = list.find(',', start);
    if (comma == std::string::npos) comma = list.size();
    std::string item = list.substr(start, comma - start);
    while (!item.empty() && item.front() == ' ') item.erase(item.begin());
    while (!item.empty() && item.back() == ' ') item.pop_back();
    if (!item.empty()) out.push_back(item);
    start = comma + 1;
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> parse_credentials(const std::string& list) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const std::string& item : split_list(list)) {
    const size_t colon = item.find(':');
    if (colon == std::string::npos || colon == 0)
      throw Error("--api-auth expects USER:PASS[,USER:PASS...], got an entry without a user or ':'");
    out.emplace_back(item.substr(0, colon), item.substr(colon + 1));
  }
  if (out.empty()) throw Error("--api-auth expects USER:PASS[,USER:PASS...], got nothing");
  return out;
}

}  // namespace i2i::server
