#include "preprocess/soft_edge.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "core/error.h"
#include "preprocess/annotator_resize.h"
#include "preprocess/opencv_resize.h"

namespace i2i {

Image soft_edge_map(const Image& image, const ControlNetHed& net, bool safe, int detect_resolution,
                    int image_resolution, SoftEdgeTrace* trace) {
  validate_image(image, "soft edge");
  Image det = annotator_resize(hwc3(image), detect_resolution, "detect resolution");
  const AnnotatorSize out_size = annotator_size(det.width, det.height, image_resolution, "image resolution");
  const int w = det.width, h = det.height;
  const size_t n = static_cast<size_t>(w) * h;
  Tensor x = Tensor::empty({1, h, w, 3});
  {
    float* p = x.data<float>();
    for (size_t i = 0; i < det.pixels.size(); ++i) p[i] = static_cast<float>(det.pixels[i]);
  }
  std::vector<Tensor> projections = net(x);
  std::vector<std::vector<float>> edges;
  for (const Tensor& p : projections) {
    const std::vector<float> plane = p.to_vector();
    edges.push_back(cv_resize_linear(plane, static_cast<int>(p.dim(2)), static_cast<int>(p.dim(1)), w, h));
  }
  std::vector<float> mean(n);
  std::vector<double> sig(n);
  std::vector<float> stepped(safe ? n : 0);
  Image edge(w, h, 1);
  const float count = static_cast<float>(edges.size());
  for (size_t i = 0; i < n; ++i) {
    float s = 0.f;
    for (const auto& e : edges) s += e[i];
    mean[i] = s / count;
    sig[i] = 1.0 / (1.0 + std::exp(-static_cast<double>(mean[i])));
    double v;
    if (safe) {
      // safe_step(x, 2): float32, times 3, truncated to int32, / 2; then * 255 in float32.
      const float t = static_cast<float>(sig[i]) * 3.0f;
      stepped[i] = static_cast<float>(t == t ? static_cast<int32_t>(t) : 0) / 2.0f;
      v = std::clamp(stepped[i] * 255.0f, 0.0f, 255.0f);
    } else {
      v = std::clamp(sig[i] * 255.0, 0.0, 255.0);
    }
    edge.pixels[i] = v == v ? static_cast<uint8_t>(v) : 0;  // NaN (a broken checkpoint): 0
  }
  Image map = cv_resize(hwc3(edge), out_size.width, out_size.height, CvInterpolation::Linear);
  if (trace) {
    trace->detect_image = std::move(det);
    trace->net_input = std::move(x);
    trace->projections = std::move(projections);
    trace->edges = std::move(edges);
    trace->mean_logit = std::move(mean);
    trace->sigmoid = std::move(sig);
    trace->safe_step = std::move(stepped);
    trace->edge = std::move(edge);
  }
  return map;
}

}  // namespace i2i
