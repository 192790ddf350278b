// fuzz_image: decode_image (io/image.h) - PNG, JPEG and WebP by magic bytes, EXIF orientation applied - on
// the fuzzer's bytes, then the channel conversions every pipeline applies to a decoded image.
#include "io/image.h"

#include <cstddef>
#include <cstdint>

#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  i2i::fuzz::expect_only_errors([&] {
    const i2i::Image image = i2i::decode_image(data, size, "fuzz input");
    i2i::validate_image(image, "decoded image");  // an Error here is a finding: decode gave a bad image
    const i2i::Image rgb = i2i::to_rgb(image, {255, 255, 255});
    i2i::fuzz::fuzz_check(rgb.width == image.width && rgb.height == image.height && rgb.channels == 3,
                          "to_rgb keeps the size");
    i2i::to_gray(image);
  });
  return 0;
}
