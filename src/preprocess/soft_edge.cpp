#include "preprocess/soft_edge.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "core/error.h"
#include "io/cv_resize.h"
#include "preprocess/annotator_resize.h"
#include "preprocess/aux_resize.h"

namespace i2i {

Image soft_edge(const Image& rgb, const ControlNetHed& net, bool safe, SoftEdgeTrace* trace) {
  validate_image(rgb, "soft edge");
  check(rgb.channels == 3, "soft edge: expected an RGB picture");
  const int w = rgb.width, h = rgb.height;
  const size_t n = static_cast<size_t>(w) * h;
  Tensor x = Tensor::empty({1, h, w, 3});
  float* xp = x.data<float>();
  for (size_t i = 0; i < rgb.pixels.size(); ++i) xp[i] = static_cast<float>(rgb.pixels[i]);
  std::vector<Tensor> projections = net(x);
  std::vector<std::vector<float>> edges;
  for (const Tensor& p : projections)
    edges.push_back(
        cv_resize_linear(p.to_vector(), static_cast<int>(p.dim(2)), static_cast<int>(p.dim(1)), w, h));
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
  if (trace) {
    trace->net_input = std::move(x);
    trace->projections = std::move(projections);
    trace->edges = std::move(edges);
    trace->mean_logit = std::move(mean);
    trace->sigmoid = std::move(sig);
    trace->safe_step = std::move(stepped);
    trace->edge = edge;
  }
  return edge;
}

Image soft_edge_map(const Image& image, const ControlNetHed& net, bool safe, int detect_resolution,
                    int image_resolution, SoftEdgeTrace* trace) {
  validate_image(image, "soft edge");
  // Both sizes are checked before the network runs.
  const AuxSize det_size = aux_resize_size(image.width, image.height, detect_resolution, "detect resolution");
  const AuxSize out_size =
      aux_resize_size(det_size.width, det_size.height, image_resolution, "image resolution");
  Image det = aux_resize_image(image, detect_resolution, "detect resolution");
  const Image edge = soft_edge(det, net, safe, trace);
  if (trace) trace->detect_image = std::move(det);
  return cv_resize(hwc3(edge), out_size.width, out_size.height, CvInterpolation::Linear);
}

Image soft_edge_map_a1111(const Image& image, const ControlNetHed& net, bool safe, int resolution) {
  const PaddedImage padded = resize_image_with_pad(image, resolution);
  return hwc3(remove_pad(soft_edge(padded.image, net, safe), padded.width, padded.height));
}

namespace {

Image run_hed(const Image& source, const ControlPreprocessSettings& settings, bool safe) {
  // The picture and resolution are checked before the network is read.
  const PaddedImage padded = resize_image_with_pad(source, settings.resolution);
  check(!settings.annotator_model.empty(),
        "soft edge needs its network: give --annotator-model FILE (ControlNetHED.pth as .safetensors)");
  const ControlNetHed net = load_controlnet_hed(settings.annotator_model, settings.precision);
  return hwc3(remove_pad(soft_edge(padded.image, net, safe), padded.width, padded.height));
}

}  // namespace

Image run_softedge_hed(const Image& source, const ControlPreprocessSettings& settings) {
  return run_hed(source, settings, false);
}

Image run_softedge_hedsafe(const Image& source, const ControlPreprocessSettings& settings) {
  return run_hed(source, settings, true);
}

}  // namespace i2i
