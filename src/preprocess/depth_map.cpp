#include "preprocess/depth_map.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <vector>

#include "core/error.h"
#include "io/cv_resize.h"
#include "kernels/interpolate.h"
#include "models/depth_anything_v2_load.h"
#include "preprocess/annotator_resize.h"

namespace i2i {

namespace {

constexpr int kNetSide = 518;
constexpr int kMultiple = 14;

// constrain_to_multiple_of(x, min_val=518) of Depth-Anything-V2's util/transform.py Resize.
int constrain_to_multiple(double x) {
  int y = static_cast<int>(std::nearbyint(x / kMultiple) * kMultiple);
  if (y < kNetSide) y = static_cast<int>(std::ceil(x / kMultiple) * kMultiple);
  return y;
}

// OpenCV's COLORMAP_INFERNO (imgproc/src/colormap.cpp: matplotlib's inferno sampled at 256 points and
// rounded to 8 bits), in R, G, B order.
constexpr std::array<std::array<uint8_t, 3>, 256> kInferno = {
    {{0, 0, 4},       {1, 0, 5},       {1, 1, 6},       {1, 1, 8},       {2, 1, 10},      {2, 2, 12},
     {2, 2, 14},      {3, 2, 16},      {4, 3, 18},      {4, 3, 20},      {5, 4, 23},      {6, 4, 25},
     {7, 5, 27},      {8, 5, 29},      {9, 6, 31},      {10, 7, 34},     {11, 7, 36},     {12, 8, 38},
     {13, 8, 41},     {14, 9, 43},     {16, 9, 45},     {17, 10, 48},    {18, 10, 50},    {20, 11, 52},
     {21, 11, 55},    {22, 11, 57},    {24, 12, 60},    {25, 12, 62},    {27, 12, 65},    {28, 12, 67},
     {30, 12, 69},    {31, 12, 72},    {33, 12, 74},    {35, 12, 76},    {36, 12, 79},    {38, 12, 81},
     {40, 11, 83},    {41, 11, 85},    {43, 11, 87},    {45, 11, 89},    {47, 10, 91},    {49, 10, 92},
     {50, 10, 94},    {52, 10, 95},    {54, 9, 97},     {56, 9, 98},     {57, 9, 99},     {59, 9, 100},
     {61, 9, 101},    {62, 9, 102},    {64, 10, 103},   {66, 10, 104},   {68, 10, 104},   {69, 10, 105},
     {71, 11, 106},   {73, 11, 106},   {74, 12, 107},   {76, 12, 107},   {77, 13, 108},   {79, 13, 108},
     {81, 14, 108},   {82, 14, 109},   {84, 15, 109},   {85, 15, 109},   {87, 16, 110},   {89, 16, 110},
     {90, 17, 110},   {92, 18, 110},   {93, 18, 110},   {95, 19, 110},   {97, 19, 110},   {98, 20, 110},
     {100, 21, 110},  {101, 21, 110},  {103, 22, 110},  {105, 22, 110},  {106, 23, 110},  {108, 24, 110},
     {109, 24, 110},  {111, 25, 110},  {113, 25, 110},  {114, 26, 110},  {116, 26, 110},  {117, 27, 110},
     {119, 28, 109},  {120, 28, 109},  {122, 29, 109},  {124, 29, 109},  {125, 30, 109},  {127, 30, 108},
     {128, 31, 108},  {130, 32, 108},  {132, 32, 107},  {133, 33, 107},  {135, 33, 107},  {136, 34, 106},
     {138, 34, 106},  {140, 35, 105},  {141, 35, 105},  {143, 36, 105},  {144, 37, 104},  {146, 37, 104},
     {147, 38, 103},  {149, 38, 103},  {151, 39, 102},  {152, 39, 102},  {154, 40, 101},  {155, 41, 100},
     {157, 41, 100},  {159, 42, 99},   {160, 42, 99},   {162, 43, 98},   {163, 44, 97},   {165, 44, 96},
     {166, 45, 96},   {168, 46, 95},   {169, 46, 94},   {171, 47, 94},   {173, 48, 93},   {174, 48, 92},
     {176, 49, 91},   {177, 50, 90},   {179, 50, 90},   {180, 51, 89},   {182, 52, 88},   {183, 53, 87},
     {185, 53, 86},   {186, 54, 85},   {188, 55, 84},   {189, 56, 83},   {191, 57, 82},   {192, 58, 81},
     {193, 58, 80},   {195, 59, 79},   {196, 60, 78},   {198, 61, 77},   {199, 62, 76},   {200, 63, 75},
     {202, 64, 74},   {203, 65, 73},   {204, 66, 72},   {206, 67, 71},   {207, 68, 70},   {208, 69, 69},
     {210, 70, 68},   {211, 71, 67},   {212, 72, 66},   {213, 74, 65},   {215, 75, 63},   {216, 76, 62},
     {217, 77, 61},   {218, 78, 60},   {219, 80, 59},   {221, 81, 58},   {222, 82, 56},   {223, 83, 55},
     {224, 85, 54},   {225, 86, 53},   {226, 87, 52},   {227, 89, 51},   {228, 90, 49},   {229, 92, 48},
     {230, 93, 47},   {231, 94, 46},   {232, 96, 45},   {233, 97, 43},   {234, 99, 42},   {235, 100, 41},
     {235, 102, 40},  {236, 103, 38},  {237, 105, 37},  {238, 106, 36},  {239, 108, 35},  {239, 110, 33},
     {240, 111, 32},  {241, 113, 31},  {241, 115, 29},  {242, 116, 28},  {243, 118, 27},  {243, 120, 25},
     {244, 121, 24},  {245, 123, 23},  {245, 125, 21},  {246, 126, 20},  {246, 128, 19},  {247, 130, 18},
     {247, 132, 16},  {248, 133, 15},  {248, 135, 14},  {248, 137, 12},  {249, 139, 11},  {249, 140, 10},
     {249, 142, 9},   {250, 144, 8},   {250, 146, 7},   {250, 148, 7},   {251, 150, 6},   {251, 151, 6},
     {251, 153, 6},   {251, 155, 6},   {251, 157, 7},   {252, 159, 7},   {252, 161, 8},   {252, 163, 9},
     {252, 165, 10},  {252, 166, 12},  {252, 168, 13},  {252, 170, 15},  {252, 172, 17},  {252, 174, 18},
     {252, 176, 20},  {252, 178, 22},  {252, 180, 24},  {251, 182, 26},  {251, 184, 29},  {251, 186, 31},
     {251, 188, 33},  {251, 190, 35},  {250, 192, 38},  {250, 194, 40},  {250, 196, 42},  {250, 198, 45},
     {249, 199, 47},  {249, 201, 50},  {249, 203, 53},  {248, 205, 55},  {248, 207, 58},  {247, 209, 61},
     {247, 211, 64},  {246, 213, 67},  {246, 215, 70},  {245, 217, 73},  {245, 219, 76},  {244, 221, 79},
     {244, 223, 83},  {244, 225, 86},  {243, 227, 90},  {243, 229, 93},  {242, 230, 97},  {242, 232, 101},
     {242, 234, 105}, {241, 236, 109}, {241, 237, 113}, {241, 239, 117}, {241, 241, 121}, {242, 242, 125},
     {242, 244, 130}, {243, 245, 134}, {243, 246, 138}, {244, 248, 142}, {245, 249, 146}, {246, 250, 150},
     {248, 251, 154}, {249, 252, 157}, {250, 253, 161}, {252, 255, 164}}};

}  // namespace

std::pair<int, int> depth_anything_input_size(int width, int height) {
  check(width > 0 && height > 0, "depth_anything_input_size: empty picture");
  if (std::max(width, height) > static_cast<int64_t>(kDepthAnythingMaxAspect) * std::min(width, height))
    throw Error("a " + std::to_string(width) + "x" + std::to_string(height) +
                " picture is too long for Depth Anything: it runs the short side at " +
                std::to_string(kNetSide) + " pixels, so the long side may be at most " +
                std::to_string(kDepthAnythingMaxAspect) + " times the short one");
  double sh = static_cast<double>(kNetSide) / height, sw = static_cast<double>(kNetSide) / width;
  if (sw > sh)
    sh = sw;
  else
    sw = sh;
  return {constrain_to_multiple(sw * width), constrain_to_multiple(sh * height)};
}

Tensor depth_anything_input(const Image& rgb) {
  check(rgb.channels == 3, "depth_anything_input: expected an RGB picture");
  validate_image(rgb, "depth_anything_input");
  const int w = rgb.width, h = rgb.height;
  std::vector<double> x(static_cast<size_t>(w) * h * 3);
  for (size_t i = 0; i < static_cast<size_t>(w) * h; ++i)
    for (int c = 0; c < 3; ++c) x[i * 3 + c] = rgb.pixels[i * 3 + (2 - c)] / 255.0;
  const auto [nw, nh] = depth_anything_input_size(w, h);
  const std::vector<double> r = cv_resize_cubic(x, w, h, 3, nw, nh);
  const double mean[3] = {0.485, 0.456, 0.406}, stdev[3] = {0.229, 0.224, 0.225};
  Tensor out = Tensor::empty({1, nh, nw, 3});
  float* d = out.data<float>();
  for (size_t i = 0; i < r.size(); ++i) d[i] = static_cast<float>((r[i] - mean[i % 3]) / stdev[i % 3]);
  return out;
}

Tensor resize_depth(const Tensor& depth, int width, int height) {
  check(depth.dtype() == DType::F32 && depth.ndim() == 2, "resize_depth: expected a float32 [h, w] map");
  return ops::interpolate_bilinear(depth.reshape({1, depth.dim(0), depth.dim(1), 1}), height, width, false)
      .reshape({height, width});
}

Image depth_to_gray(const Tensor& depth) {
  check(depth.dtype() == DType::F32 && depth.ndim() == 2 && depth.numel() > 0,
        "depth_to_gray: expected a float32 [h, w] map");
  const float* d = depth.data<float>();
  const int64_t n = depth.numel();
  const auto [lo, hi] = std::minmax_element(d, d + n);
  const float mn = *lo, range = *hi - *lo;
  Image out(static_cast<int>(depth.dim(1)), static_cast<int>(depth.dim(0)), 1);
  if (!(range > 0)) return out;
  for (int64_t i = 0; i < n; ++i) {
    const float v = (d[i] - mn) / range * 255.0f;
    out.pixels[static_cast<size_t>(i)] = static_cast<uint8_t>(std::clamp(v, 0.0f, 255.0f));
  }
  return out;
}

Image colorize_inferno(const Image& gray) {
  check(gray.channels == 1, "colorize_inferno: expected a 1-channel map");
  Image out(gray.width, gray.height, 3);
  for (size_t i = 0; i < gray.pixels.size(); ++i) {
    const auto& c = kInferno[gray.pixels[i]];
    for (int k = 0; k < 3; ++k) out.pixels[i * 3 + k] = c[static_cast<size_t>(k)];
  }
  return out;
}

Image depth_anything_v2_map(const DepthAnythingV2& net, const Image& source, int resolution, bool colored) {
  depth_anything_input_size(source.width, source.height);  // a picture too long, refused before its resize
  const PaddedImage padded = resize_image_with_pad(source, resolution);
  const Tensor depth = net.forward(depth_anything_input(padded.image));
  Image map = depth_to_gray(resize_depth(depth, padded.image.width, padded.image.height));
  if (colored) map = colorize_inferno(map);
  return remove_pad(map, padded.width, padded.height);
}

Image run_depth_anything_v2(const Image& source, const ControlPreprocessSettings& settings) {
  // Checked before the (possibly large) network is read.
  resize_image_with_pad(Image(16, 16, 3), settings.resolution);
  check(!settings.annotator_model.empty(),
        "depth_anything_v2 needs its network: give --annotator-model FILE");
  const DepthAnythingV2 net = load_depth_anything_v2(settings.annotator_model, settings.precision);
  return depth_anything_v2_map(net, source, settings.resolution, settings.colored);
}

}  // namespace i2i
