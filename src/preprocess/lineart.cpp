#include "preprocess/lineart.h"

#include <algorithm>

#include "core/error.h"
#include "io/cv_resize.h"
#include "preprocess/annotator_resize.h"
#include "preprocess/aux_resize.h"

namespace i2i {

Image lineart_line(const Image& rgb, const LineartGenerator& net, LineartTrace* trace) {
  validate_image(rgb, "line art");
  check(rgb.channels == 3, "line art: expected an RGB picture");
  Tensor x = Tensor::empty({1, rgb.height, rgb.width, 3});
  float* xp = x.data<float>();
  for (size_t i = 0; i < rgb.pixels.size(); ++i) xp[i] = static_cast<float>(rgb.pixels[i]) / 255.0f;
  Tensor y = net(x, trace ? &trace->stages : nullptr);
  check(y.dim(1) == rgb.height && y.dim(2) == rgb.width,
        "line art: the generator gave a " + std::to_string(y.dim(2)) + "x" + std::to_string(y.dim(1)) +
            " map for a " + std::to_string(rgb.width) + "x" + std::to_string(rgb.height) + " picture");
  // Channel 0, * 255 in float32, clipped, truncated.
  Image line(rgb.width, rgb.height, 1);
  const float* yp = y.data<float>();
  const int64_t c = y.dim(3);
  for (size_t i = 0; i < line.pixels.size(); ++i) {
    const float v = std::clamp(yp[i * c] * 255.0f, 0.0f, 255.0f);
    line.pixels[i] = v == v ? static_cast<uint8_t>(v) : 0;  // NaN (a broken checkpoint): 0
  }
  if (trace) {
    trace->net_input = std::move(x);
    trace->net_output = std::move(y);
    trace->line = line;
  }
  return line;
}

Image lineart_map(const Image& image, const LineartGenerator& net, int detect_resolution,
                  int image_resolution, LineartTrace* trace) {
  validate_image(image, "line art");
  // Both sizes are checked before the network runs.
  const AuxSize det_size = aux_resize_size(image.width, image.height, detect_resolution, "detect resolution");
  const AuxSize out_size =
      aux_resize_size(det_size.width, det_size.height, image_resolution, "image resolution");
  Image det = aux_resize_image(image, detect_resolution, "detect resolution");
  const Image line = lineart_line(det, net, trace);
  Image resized = cv_resize(hwc3(line), out_size.width, out_size.height, CvInterpolation::Linear);
  Image map = resized;
  for (uint8_t& v : map.pixels) v = static_cast<uint8_t>(255 - v);
  if (trace) {
    trace->detect_image = std::move(det);
    trace->resized = std::move(resized);
  }
  return map;
}

namespace {

// 255 - line on the padded picture, remove_pad, RGB.
Image lineart_a1111(const PaddedImage& padded, const LineartGenerator& net) {
  Image line = lineart_line(padded.image, net);
  for (uint8_t& v : line.pixels) v = static_cast<uint8_t>(255 - v);
  return hwc3(remove_pad(line, padded.width, padded.height));
}

}  // namespace

Image lineart_map_a1111(const Image& image, const LineartGenerator& net, int resolution) {
  return lineart_a1111(resize_image_with_pad(image, resolution), net);
}

Image run_lineart(const Image& source, const ControlPreprocessSettings& settings) {
  // The picture and resolution are checked before the network is read.
  const PaddedImage padded = resize_image_with_pad(source, settings.resolution);
  check(!settings.annotator_model.empty(),
        "line art needs its network: give --annotator-model FILE (sk_model.pth / sk_model2.pth as "
        ".safetensors)");
  return lineart_a1111(padded, load_lineart_generator(settings.annotator_model, settings.precision));
}

}  // namespace i2i
