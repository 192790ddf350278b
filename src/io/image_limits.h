// Reading pictures under a caller's pixel limit (the server's --max-pixels), lower than the library's
// max_image_pixels(): the size is checked from the file's header, before any pixel memory is allocated or
// any image data inflated (image.h's readers otherwise, with the same errors).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include "io/image.h"

namespace i2i {

// decode_image, refusing a picture of more than max_pixels (width x height) from its header.
Image decode_image(const uint8_t* data, size_t size, const std::string& name, int64_t max_pixels);
// read_png_text, refusing a picture of more than max_pixels from its header.
std::map<std::string, std::string> read_png_text(const uint8_t* data, size_t size, const std::string& name,
                                                 int64_t max_pixels);

}  // namespace i2i
