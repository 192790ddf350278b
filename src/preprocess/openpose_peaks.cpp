#include "preprocess/openpose_peaks.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/error.h"
#include "core/parallel_errors.h"

namespace i2i {

namespace {

// numpy's float64 sum (pairwise_sum: 8 accumulators for 8..128 elements, then the rest in order).
double numpy_sum(const std::vector<double>& a) {
  const size_t n = a.size();
  if (n < 8) {
    double s = 0;
    for (double v : a) s += v;
    return s;
  }
  double r[8];
  for (int j = 0; j < 8; ++j) r[j] = a[j];
  size_t i = 8;
  for (; i < n - n % 8; i += 8)
    for (int j = 0; j < 8; ++j) r[j] += a[i + j];
  double s = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
  for (; i < n; ++i) s += a[i];
  return s;
}

// 'reflect' index of i in [0, n).
int reflect(int i, int n) {
  const int period = 2 * n;
  i %= period;
  if (i < 0) i += period;
  return i < n ? i : period - 1 - i;
}

// correlate1d with a symmetric kernel w[-r..r] (w[0] = centre) along `line` of `n` values.
void correlate_line(const double* in, ptrdiff_t stride, int n, const std::vector<double>& w, int radius,
                    std::vector<double>& ext, double* out, ptrdiff_t out_stride) {
  ext.resize(static_cast<size_t>(n) + 2 * radius);
  for (int i = -radius; i < n + radius; ++i) ext[i + radius] = in[reflect(i, n) * stride];
  const double* c = w.data() + radius;  // c[j], j in [-radius, radius]
  for (int i = 0; i < n; ++i) {
    const double* x = ext.data() + radius + i;
    double v = x[0] * c[0];
    for (int j = -radius; j < 0; ++j) v += (x[j] + x[-j]) * c[j];
    out[i * out_stride] = v;
  }
}

}  // namespace

std::vector<double> gaussian_filter_scipy(const std::vector<double>& values, int width, int height,
                                          double sigma) {
  check(width > 0 && height > 0 && values.size() == static_cast<size_t>(width) * height,
        "gaussian_filter: bad image size " + std::to_string(width) + "x" + std::to_string(height));
  const int radius = static_cast<int>(4.0 * sigma + 0.5);
  std::vector<double> w(2 * radius + 1);
  const double sigma2 = sigma * sigma;
  for (int x = -radius; x <= radius; ++x)
    w[x + radius] = std::exp(-0.5 / sigma2 * static_cast<double>(x * x));
  const double total = numpy_sum(w);
  for (double& v : w) v = v / total;
  std::vector<double> tmp(values.size()), out(values.size()), ext;
  for (int x = 0; x < width; ++x)  // axis 0: along each column
    correlate_line(values.data() + x, width, height, w, radius, ext, tmp.data() + x, width);
  for (int y = 0; y < height; ++y)  // axis 1: along each row
    correlate_line(tmp.data() + static_cast<size_t>(y) * width, 1, width, w, radius, ext,
                   out.data() + static_cast<size_t>(y) * width, 1);
  return out;
}

std::vector<std::vector<PoseCandidate>> find_pose_peaks(const std::vector<PlaneF32>& heatmaps) {
  constexpr int kParts = 18;
  constexpr double kThreshold = 0.1;
  check(heatmaps.size() >= kParts,
        "openpose: expected 18 part heatmaps, got " + std::to_string(heatmaps.size()));
  for (int part = 0; part < kParts; ++part) {
    const PlaneF32& m = heatmaps[part];
    check(m.width > 0 && m.height > 0 && m.values.size() == static_cast<size_t>(m.width) * m.height,
          "openpose: bad heatmap " + std::to_string(part));
  }
  // The blurs are independent (one per part); the ids are given in part order afterwards.
  std::vector<std::vector<double>> blurred(kParts);
  ParallelErrors errors;  // e.g. std::bad_alloc under a memory limit: thrown here, not inside the loop
#pragma omp parallel for schedule(dynamic)
  for (int part = 0; part < kParts; ++part)
    errors.run([&] {
      const PlaneF32& map = heatmaps[part];
      // The blur averages with non-negative weights: nothing in it exceeds the map's maximum, so a map
      // nowhere above the threshold has no peaks (and needs no blur).
      if (!(*std::max_element(map.values.begin(), map.values.end()) > kThreshold)) return;
      blurred[part] = gaussian_filter_scipy(std::vector<double>(map.values.begin(), map.values.end()),
                                            map.width, map.height, 3.0);
    });
  errors.rethrow();
  std::vector<std::vector<PoseCandidate>> peaks(kParts);
  int counter = 0;
  for (int part = 0; part < kParts; ++part) {
    const PlaneF32& map = heatmaps[part];
    const std::vector<double>& b = blurred[part];
    if (b.empty()) continue;
    const int w = map.width, h = map.height;
    auto at = [&](int x, int y) {
      return x < 0 || y < 0 || x >= w || y >= h ? 0.0 : b[static_cast<size_t>(y) * w + x];
    };
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x) {
        const double v = at(x, y);
        if (v >= at(x, y - 1) && v >= at(x, y + 1) && v >= at(x - 1, y) && v >= at(x + 1, y) &&
            v > kThreshold)
          peaks[part].push_back({x, y, static_cast<double>(map.at(x, y)), counter++});
      }
  }
  return peaks;
}

}  // namespace i2i
