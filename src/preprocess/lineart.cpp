#include "preprocess/lineart.h"

#include <algorithm>

#include "core/error.h"
#include "preprocess/annotator_resize.h"
#include "preprocess/opencv_resize.h"

namespace i2i {

Image lineart_map(const Image& image, const LineartGenerator& net, int detect_resolution,
                  int image_resolution, LineartTrace* trace) {
  validate_image(image, "line art");
  Image det = annotator_resize(hwc3(image), detect_resolution, "detect resolution");
  const AnnotatorSize out_size = annotator_size(det.width, det.height, image_resolution, "image resolution");
  Tensor x = Tensor::empty({1, det.height, det.width, 3});
  {
    float* p = x.data<float>();
    for (size_t i = 0; i < det.pixels.size(); ++i) p[i] = static_cast<float>(det.pixels[i]) / 255.0f;
  }
  LineartGenerator::Stages* stages = trace ? &trace->stages : nullptr;
  Tensor y = net(x, stages);
  check(y.dim(1) == det.height && y.dim(2) == det.width,
        "line art: the generator gave a " + std::to_string(y.dim(2)) + "x" + std::to_string(y.dim(1)) +
            " map for a " + std::to_string(det.width) + "x" + std::to_string(det.height) + " image");
  // Channel 0 of the output, * 255 in float32, clipped, truncated.
  Image line(det.width, det.height, 1);
  {
    const float* p = y.data<float>();
    const int64_t c = y.dim(3);
    for (size_t i = 0; i < line.pixels.size(); ++i) {
      const float v = std::clamp(p[i * c] * 255.0f, 0.0f, 255.0f);
      line.pixels[i] = v == v ? static_cast<uint8_t>(v) : 0;  // NaN (a broken checkpoint): 0, as numpy gives
    }
  }
  Image resized = cv_resize(hwc3(line), out_size.width, out_size.height, CvInterpolation::Linear);
  Image map = resized;
  for (uint8_t& v : map.pixels) v = static_cast<uint8_t>(255 - v);
  if (trace) {
    trace->detect_image = std::move(det);
    trace->net_input = std::move(x);
    trace->net_output = std::move(y);
    trace->line = std::move(line);
    trace->resized = std::move(resized);
  }
  return map;
}

}  // namespace i2i
