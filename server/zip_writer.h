// A ZIP archive (PKWARE APPNOTE 6.3: local headers, stored entries, central directory) built in memory:
// the result of a folder batch over HTTP. Entries are stored uncompressed (PNGs are compressed already).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace i2i::server {

class ZipWriter {
 public:
  // Adds a file; `name` must be a relative path of printable ASCII without "..".
  void add(const std::string& name, const std::string& bytes);
  // The archive (the writer can no longer be added to).
  std::string finish();

 private:
  struct Entry {
    std::string name;
    uint32_t crc = 0, size = 0, offset = 0;
  };
  std::string out_;
  std::vector<Entry> entries_;
};

uint32_t crc32(const std::string& bytes);

}  // namespace i2i::server
