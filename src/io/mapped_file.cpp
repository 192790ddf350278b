#include "io/mapped_file.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>

#include "core/error.h"
#include "io/regular_file.h"

namespace i2i {

std::shared_ptr<MappedFile> MappedFile::open(const std::filesystem::path& path) {
  RegularFile file(path);
  std::shared_ptr<MappedFile> f(new MappedFile());
  f->path_ = path;
  f->size_ = file.size();
  if (f->size_ > 0) {
    void* p = mmap(nullptr, f->size_, PROT_READ, MAP_PRIVATE, file.fd(), 0);
    if (p == MAP_FAILED) throw Error(path.string() + ": cannot map: " + std::strerror(errno));
    f->data_ = static_cast<const unsigned char*>(p);
  }
  return f;
}

MappedFile::~MappedFile() {
  if (data_) munmap(const_cast<unsigned char*>(data_), size_);
}

}  // namespace i2i
