// Base64 (RFC 4648, standard alphabet) as A1111's API carries pictures: plain, or inside a
// `data:image/png;base64,...` URL. Decoding is strict (no characters outside the alphabet, padding only at
// the end; whitespace is skipped as Python's b64decode does not, but browsers' line-wrapped output has it).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace i2i::server {

std::string base64_encode(const uint8_t* data, size_t size);
inline std::string base64_encode(const std::vector<uint8_t>& bytes) {
  return base64_encode(bytes.data(), bytes.size());
}
// nullopt for malformed input.
std::optional<std::vector<uint8_t>> base64_decode(std::string_view text);
// The base64 part of a `data:[type];base64,` URL, or `text` itself when it is no data URL.
std::string_view strip_data_url(std::string_view text);

}  // namespace i2i::server
