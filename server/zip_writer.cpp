#include "server/zip_writer.h"

#include <array>

#include "core/error.h"

namespace i2i::server {
namespace {

void put16(std::string& o, uint32_t v) {
  o += static_cast<char>(v & 0xFF);
  o += static_cast<char>((v >> 8) & 0xFF);
}
void put32(std::string& o, uint32_t v) {
  put16(o, v & 0xFFFF);
  put16(o, v >> 16);
}

}  // namespace

uint32_t crc32(const std::string& bytes) {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t n = 0; n < 256; ++n) {
      uint32_t c = n;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[n] = c;
    }
    return t;
  }();
  uint32_t c = 0xFFFFFFFFu;
  for (unsigned char b : bytes) c = table[(c ^ b) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

void ZipWriter::add(const std::string& name, const std::string& bytes) {
  check(!name.empty() && name.size() < 256 && name.find("..") == std::string::npos && name[0] != '/',
        "zip entry name '" + name + "' is not a plain relative name");
  check(out_.size() + bytes.size() < 0xFFFF0000u && entries_.size() < 0xFFFF, "the zip would be over 4 GB");
  Entry e{name, crc32(bytes), static_cast<uint32_t>(bytes.size()), static_cast<uint32_t>(out_.size())};
  put32(out_, 0x04034b50);  // local file header
  put16(out_, 20);          // version needed
  put16(out_, 0);           // flags
  put16(out_, 0);           // stored
  put16(out_, 0);           // time
  put16(out_, 0x21);        // date: 1980-01-01
  put32(out_, e.crc);
  put32(out_, e.size);
  put32(out_, e.size);
  put16(out_, static_cast<uint32_t>(name.size()));
  put16(out_, 0);
  out_ += name;
  out_ += bytes;
  entries_.push_back(std::move(e));
}

std::string ZipWriter::finish() {
  const uint32_t directory_start = static_cast<uint32_t>(out_.size());
  for (const Entry& e : entries_) {
    put32(out_, 0x02014b50);  // central directory header
    put16(out_, 20);          // made by
    put16(out_, 20);          // needed
    put16(out_, 0);
    put16(out_, 0);
    put16(out_, 0);
    put16(out_, 0x21);
    put32(out_, e.crc);
    put32(out_, e.size);
    put32(out_, e.size);
    put16(out_, static_cast<uint32_t>(e.name.size()));
    put16(out_, 0);  // extra
    put16(out_, 0);  // comment
    put16(out_, 0);  // disk
    put16(out_, 0);  // internal attributes
    put32(out_, 0);  // external attributes
    put32(out_, e.offset);
    out_ += e.name;
  }
  const uint32_t directory_size = static_cast<uint32_t>(out_.size()) - directory_start;
  put32(out_, 0x06054b50);  // end of central directory
  put16(out_, 0);
  put16(out_, 0);
  put16(out_, static_cast<uint32_t>(entries_.size()));
  put16(out_, static_cast<uint32_t>(entries_.size()));
  put32(out_, directory_size);
  put32(out_, directory_start);
  put16(out_, 0);
  return std::move(out_);
}

}  // namespace i2i::server
