#include "preprocess/openpose.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/error.h"
#include "core/parallel_errors.h"
#include "models/openpose_body_load.h"
#include "preprocess/annotator_resize.h"
#include "preprocess/openpose_draw.h"
#include "preprocess/openpose_peaks.h"

namespace i2i {

namespace {

constexpr double kBoxSize = 368;
constexpr int kStride = 8;
constexpr uint8_t kPadValue = 128;

// util.smart_resize on one float32 plane: AREA when shrinking overall, else LANCZOS4.
PlaneF32 smart_resize(const PlaneF32& p, int height, int width) {
  const double k = static_cast<double>(height + width) / static_cast<double>(p.height + p.width);
  return cv_resize(p, width, height, k < 1 ? CvInterpolation::Area : CvInterpolation::Lanczos4);
}

// Channel c of an NHWC [1, h, w, C] tensor as a plane.
PlaneF32 channel_plane(const Tensor& t, int64_t c) {
  const int64_t h = t.dim(1), w = t.dim(2), channels = t.dim(3);
  PlaneF32 p{static_cast<int>(w), static_cast<int>(h), std::vector<float>(static_cast<size_t>(h * w))};
  const float* src = t.data<float>();
  for (int64_t i = 0; i < h * w; ++i) p.values[i] = src[i * channels + c];
  return p;
}

// Per channel: x8 (LANCZOS4), crop the padding, to the detect size.
std::vector<PlaneF32> to_detect_size(const Tensor& t, const OpenposeNetInput& in, int width, int height) {
  check(t.ndim() == 4 && t.dim(0) == 1 && t.dtype() == DType::F32,
        "openpose: bad network output " + shape_str(t.shape()));
  const int hp = static_cast<int>(t.dim(1)) * kStride, wp = static_cast<int>(t.dim(2)) * kStride;
  const int hc = hp - in.pad_down, wc = wp - in.pad_right;
  check(hc > 0 && wc > 0, "openpose: network output smaller than its padding");
  const int64_t channels = t.dim(3);
  std::vector<PlaneF32> out(static_cast<size_t>(channels));
  ParallelErrors errors;  // e.g. std::bad_alloc under a memory limit: thrown here, not inside the loop
#pragma omp parallel for schedule(dynamic)
  for (int64_t c = 0; c < channels; ++c)
    errors.run([&] {
      const PlaneF32 up = cv_resize(channel_plane(t, c), wp, hp, CvInterpolation::Lanczos4);
      PlaneF32 cropped{wc, hc, std::vector<float>(static_cast<size_t>(wc) * hc)};
      for (int y = 0; y < hc; ++y)
        std::copy_n(up.values.begin() + static_cast<ptrdiff_t>(y) * wp, wc,
                    cropped.values.begin() + static_cast<ptrdiff_t>(y) * wc);
      out[c] = smart_resize(cropped, height, width);
    });
  errors.rethrow();
  return out;
}

}  // namespace

OpenposeMapSize openpose_resize_size(int width, int height, int resolution, const char* parameter) {
  const double k = static_cast<double>(resolution) / std::min<double>(height, width);
  const double h = std::nearbyint(height * k / 64.0) * 64, w = std::nearbyint(width * k / 64.0) * 64;
  if (!(h >= 64 && w >= 64 && h <= kOpenposeMaxSide && w <= kOpenposeMaxSide)) {
    auto side = [](double v) {
      return v > 1e9 ? std::string("huge") : std::to_string(static_cast<long long>(v));
    };
    throw ParameterError("{" + std::string(parameter) + "} " + std::to_string(resolution) + " gives a " +
                         side(w) + "x" + side(h) + " map for a " + std::to_string(width) + "x" +
                         std::to_string(height) + " image; both sides must be between 64 and " +
                         std::to_string(kOpenposeMaxSide));
  }
  return {static_cast<int>(w), static_cast<int>(h)};
}

Image openpose_detect_image(const Image& image, int detect_resolution) {
  validate_image(image, "openpose");
  if (image.width < kOpenposeMinInputSide || image.height < kOpenposeMinInputSide)
    throw Error("openpose: the image is " + std::to_string(image.width) + "x" + std::to_string(image.height) +
                "; the pose detector needs at least " + std::to_string(kOpenposeMinInputSide) +
                " pixels a side");
  const OpenposeMapSize size =
      openpose_resize_size(image.width, image.height, detect_resolution, "detect_resolution");
  const double k = static_cast<double>(detect_resolution) / std::min<double>(image.height, image.width);
  return cv_resize(hwc3(image), size.width, size.height,
                   k > 1 ? CvInterpolation::Lanczos4 : CvInterpolation::Area);
}

OpenposeNetInput openpose_net_input(const Image& detect) {
  validate_image(detect, "openpose");
  check(detect.channels == 3, "openpose: the detect image must be RGB");
  OpenposeNetInput in;
  in.scale = 0.5 * kBoxSize / detect.height;
  const double ht = detect.height * in.scale, wt = detect.width * in.scale;
  const double k = (ht + wt) / static_cast<double>(detect.height + detect.width);
  in.scaled_height = static_cast<int>(ht);
  in.scaled_width = static_cast<int>(wt);
  if (in.scaled_width < 1 || in.scaled_height < 1)
    throw Error("openpose: the detect image " + std::to_string(detect.width) + "x" +
                std::to_string(detect.height) + " is too narrow for the network");
  const Image scaled = cv_resize(detect, in.scaled_width, in.scaled_height,
                                 k < 1 ? CvInterpolation::Area : CvInterpolation::Lanczos4);
  in.pad_down = in.scaled_height % kStride == 0 ? 0 : kStride - in.scaled_height % kStride;
  in.pad_right = in.scaled_width % kStride == 0 ? 0 : kStride - in.scaled_width % kStride;
  const int hp = in.scaled_height + in.pad_down, wp = in.scaled_width + in.pad_right;
  in.image = Tensor::empty({1, hp, wp, 3});
  float* dst = in.image.data<float>();
  for (int y = 0; y < hp; ++y)
    for (int x = 0; x < wp; ++x) {
      const bool inside = y < in.scaled_height && x < in.scaled_width;
      for (int c = 0; c < 3; ++c) {  // BGR
        const uint8_t v = inside ? scaled.at(x, y, 2 - c) : kPadValue;
        dst[(static_cast<size_t>(y) * wp + x) * 3 + c] = static_cast<float>(v) / 256.0f - 0.5f;
      }
    }
  return in;
}

OpenposeMaps openpose_detect_maps(const OpenposeBody::Output& net, const OpenposeNetInput& input, int width,
                                  int height) {
  check(net.heatmap.ndim() == 4 && net.heatmap.dim(3) == OpenposeBodyConfig::kHeatmaps,
        "openpose: expected 19 heatmaps, got " + shape_str(net.heatmap.shape()));
  check(net.paf.ndim() == 4 && net.paf.dim(3) == OpenposeBodyConfig::kPafs,
        "openpose: expected 38 PAFs, got " + shape_str(net.paf.shape()));
  return {to_detect_size(net.heatmap, input, width, height), to_detect_size(net.paf, input, width, height)};
}

OpenposeDetection openpose_detect(const OpenposeMaps& maps, int width, int height) {
  OpenposeDetection d;
  d.peaks = find_pose_peaks(maps.heatmaps);
  d.people = assemble_people(d.peaks, maps.pafs, height);
  d.keypoints = normalized_keypoints(d.peaks, d.people, width, height);
  return d;
}

Image openpose_draw(const std::vector<BodyKeypoints>& people, int width, int height) {
  Image canvas(width, height, 3);
  for (const BodyKeypoints& k : people) draw_body_pose(canvas, k);
  return canvas;
}

Image openpose_pose_map(const Image& detect, const OpenposeBody& body) {
  const OpenposeNetInput input = openpose_net_input(detect);
  const OpenposeMaps maps = openpose_detect_maps(body(input.image), input, detect.width, detect.height);
  const OpenposeDetection d = openpose_detect(maps, detect.width, detect.height);
  return openpose_draw(d.keypoints, detect.width, detect.height);
}

Image openpose_preprocess(const Image& image, const OpenposeBody& body, int detect_resolution,
                          int image_resolution) {
  const Image detect = openpose_detect_image(image, detect_resolution);
  const OpenposeMapSize out =
      openpose_resize_size(detect.width, detect.height, image_resolution, "image_resolution");
  return cv_resize(openpose_pose_map(detect, body), out.width, out.height, CvInterpolation::Linear);
}

void check_openpose_a1111(int width, int height, int resolution) {
  // The padded size resize_image_with_pad will make, checked before it is made (57 float maps follow). Sides,
  // as --detect-resolution's check: a 32000x512 picture is under 4096 x 4096 pixels but its maps are not
  // smaller for it (57 float planes, and per channel an x8 upsampling of the network's output).
  if (width > 0 && height > 0 && resolution > 0) {
    const double k = static_cast<double>(resolution) / std::min(width, height);
    const double pw = std::ceil(std::nearbyint(width * k) / 64) * 64;
    const double ph = std::ceil(std::nearbyint(height * k) / 64) * 64;
    if (pw > kOpenposeMaxSide || ph > kOpenposeMaxSide) {
      auto side = [](double v) {
        return v > 1e9 ? std::string("huge") : std::to_string(static_cast<long long>(v));
      };
      throw Error("processor resolution " + std::to_string(resolution) + " makes a " + side(pw) + "x" +
                  side(ph) + " picture of the " + std::to_string(width) + "x" + std::to_string(height) +
                  " image for the pose detector; at most " + std::to_string(kOpenposeMaxSide) +
                  " pixels a side");
    }
  }
}

Image openpose_a1111(const Image& source, const OpenposeBody& body, int resolution) {
  check_openpose_a1111(source.width, source.height, resolution);
  const PaddedImage padded = resize_image_with_pad(source, resolution);
  return remove_pad(openpose_pose_map(padded.image, body), padded.width, padded.height);
}

Image openpose_control_map(const Image& source, const ControlPreprocessSettings& settings) {
  if (settings.annotator_model.empty())
    throw ParameterError("openpose runs the OpenPose body network: give its file with {annotator_model}");
  resize_image_with_pad(Image(16, 16, 3), settings.resolution);  // the resolution, checked before loading
  const OpenposeBody body = load_openpose_body(settings.annotator_model, settings.precision);
  return openpose_a1111(source, body, settings.resolution);
}

}  // namespace i2i
