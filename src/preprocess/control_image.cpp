#include "preprocess/control_image.h"

#include "core/error.h"

namespace i2i {

Image prepare_control_image(const Image& image, int width, int height, ResizeMode mode) {
  validate_image(image, "control image");
  check(width > 0 && height > 0,
        "control image: bad target size " + std::to_string(width) + "x" + std::to_string(height));
  Image rgb = to_rgb(image);
  if (rgb.width == width && rgb.height == height) return rgb;
  return resize_image(mode, rgb, width, height);
}

Image load_control_image(const std::filesystem::path& path, int width, int height, ResizeMode mode) {
  return prepare_control_image(read_image(path), width, height, mode);
}

Tensor control_image_tensor(const Image& image) {
  validate_image(image, "control image");
  const Image rgb = image.channels == 3 ? image : to_rgb(image);
  Tensor t = Tensor::empty({1, rgb.height, rgb.width, 3});
  float* d = t.data<float>();
  for (size_t i = 0; i < rgb.pixels.size(); ++i) d[i] = static_cast<float>(rgb.pixels[i]) / 255.f;
  return t;
}

}  // namespace i2i
