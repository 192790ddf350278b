// OpenCV 4.6's cv2.resize as i2i reproduces it (io/cv_resize.h). The fixtures cover the paths the
// annotator fixtures take (Lanczos4 2x, area 384x512 -> 128x192, fixed-point bilinear 1.5x, float bilinear
// upscales); the expected values here were produced by OpenCV 4.6.0 itself (Debian's libopencv-imgproc 4.6.0,
// cv::resize on the pattern below) for the other paths: area with integer factors (2x rounds half up in
// OpenCV's vector code, 3x with cvRound), fractional area cells, area's bilinear emulation when an axis
// grows, shrinking bilinear, a 2x bilinear shrink (which OpenCV turns into area), Lanczos4 taps past both
// borders, and float32 bilinear including the exact 2x shrink. (Checked against OpenCV on 9769 random sizes
// and channel counts while writing it; those comparisons need OpenCV and are not part of the suite.)
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "core/error.h"
#include "io/cv_resize.h"
#include "support/fixtures.h"

namespace i2i {
namespace {

struct U8Case {
  int sw, sh, cn, dw, dh;
  CvInterpolation interpolation;
  const char* what;
  std::vector<int> want;
};

struct F32Case {
  int sw, sh, dw, dh;
  std::vector<float> want;
};

// The input pattern the expected values were computed from.
Image pattern(int w, int h, int cn) {
  Image img(w, h, cn);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w * cn; ++x)
      img.row(y)[x] = static_cast<uint8_t>((x * 37 + y * 91 + (x % 3) * 13 + (x * y) % 7) % 256);
  return img;
}

TEST(OpenCVResize, EightBitPathsMatchOpenCV) {
  const std::vector<U8Case> cases = {
      {8,
       6,
       3,
       4,
       3,
       CvInterpolation::Area,
       "area 2x (vector rounding, half up)",
       {102, 88, 139, 133, 118, 104, 99,  149, 134, 128, 115, 165, 93,  144, 131, 126, 109, 160,
        153, 78, 125, 119, 169, 94,  147, 135, 121, 113, 163, 87,  146, 129, 115, 109, 98,  145}},
      {8,
       6,
       1,
       4,
       3,
       CvInterpolation::Linear,
       "linear 2x shrink is area",
       {71, 152, 106, 102, 126, 82, 160, 157, 181, 134, 88, 146}},
      {9,
       6,
       3,
       3,
       2,
       CvInterpolation::Area,
       "area 3x (cvRound)",
       {119, 111, 133, 110, 133, 125, 130, 123, 146, 136, 130, 124, 129, 121, 114, 119, 114, 135}},
      {10, 7, 3, 4, 3, CvInterpolation::Area, "area, fractional cells", {111, 95,  131, 115, 143, 104,
                                                                         132, 124, 168, 136, 97,  126,
                                                                         123, 122, 143, 127, 111, 130,
                                                                         115, 136, 99,  148, 123, 131,
                                                                         110, 148, 132, 115, 120, 134,
                                                                         141, 125, 116, 113, 127, 91}},
      {5,
       4,
       3,
       7,
       3,
       CvInterpolation::Area,
       "area growing along x: bilinear emulation",
       {23,  73,  123, 90,  101, 152, 144, 104, 154, 182, 39,  89,  117, 128, 127, 119,
        170, 104, 148, 198, 55,  137, 188, 112, 129, 101, 102, 121, 66,  117, 108, 153,
        204, 92,  142, 89,  82,  133, 103, 73,  124, 169, 58,  111, 100, 88,  140, 164,
        131, 142, 191, 221, 74,  127, 105, 114, 166, 119, 92,  141, 184, 45,  90}},
      {6,
       5,
       3,
       9,
       7,
       CvInterpolation::Linear,
       "linear 1.5x",
       {0,   50,  100, 55,  105, 155, 129, 137, 187, 203, 40,  90,  149, 71,  121, 95,  145, 153, 170,
        219, 56,  115, 165, 87,  43,  93,  143, 52,  102, 153, 108, 86,  136, 159, 69,  119, 136, 68,
        119, 131, 124, 102, 124, 175, 85,  102, 153, 84,  96,  146, 140, 95,  146, 197, 117, 168, 146,
        138, 96,  111, 147, 43,  94,  100, 115, 166, 106, 154, 113, 112, 163, 59,  65,  116, 131, 107,
        122, 170, 161, 139, 191, 182, 234, 30,  113, 161, 85,  61,  106, 158, 135, 180, 232, 80,  129,
        177, 25,  77,  122, 99,  151, 196, 172, 96,  145, 227, 23,  75,  64,  117, 96,  85,  136, 150,
        124, 143, 192, 198, 93,  144, 145, 100, 152, 91,  109, 159, 163, 62,  109, 145, 70,  117, 110,
        89,  137, 56,  109, 160, 113, 110, 160, 171, 104, 154, 172, 78,  131, 154, 129, 126, 137, 162,
        120, 137, 66,  94,  120, 97,  90,  102, 153, 93,  108, 162, 209, 166, 88,  139, 199, 33,  87,
        101, 106, 160, 131, 182, 104, 163, 215, 49,  69,  117, 122, 100, 147, 70,  155, 202, 0}},
      {7,
       5,
       1,
       4,
       3,
       CvInterpolation::Linear,
       "linear shrink",
       {49, 132, 112, 165, 202, 32, 82, 148, 98, 182, 86, 129}},
      {4,
       3,
       3,
       9,
       7,
       CvInterpolation::Lanczos4,
       "lanczos4",
       {0,   18,  54,  0,   71,  112, 28,  159, 206, 105, 181, 230, 203, 101, 148, 246, 15,  63,  190,
        17,  82,  89,  85,  171, 32,  130, 226, 0,   41,  101, 18,  75,  133, 68,  129, 181, 136, 136,
        186, 191, 77,  130, 203, 25,  76,  164, 49,  85,  109, 121, 138, 79,  164, 171, 21,  94,  183,
        65,  90,  165, 143, 76,  130, 188, 53,  105, 165, 35,  103, 121, 52,  109, 115, 113, 98,  142,
        183, 78,  161, 218, 67,  70,  161, 216, 114, 120, 167, 186, 45,  83,  202, 0,   52,  135, 23,
        104, 67,  97,  157, 79,  170, 126, 148, 213, 42,  190, 228, 0,   136, 218, 153, 145, 162, 119,
        156, 64,  67,  146, 16,  74,  112, 64,  150, 82,  148, 208, 84,  186, 164, 106, 173, 63,  121,
        158, 5,   192, 252, 51,  155, 199, 54,  91,  109, 75,  65,  73,  133, 101, 126, 210, 137, 188,
        244, 111, 172, 197, 49,  103, 113, 11,  60,  66,  218, 255, 0,   156, 215, 21,  54,  135, 82,
        22,  107, 169, 97,  159, 241, 169, 205, 255, 128, 161, 212, 18,  65,  141, 0,   9,   104}},
      {3,
       2,
       4,
       5,
       4,
       CvInterpolation::Lanczos4,
       "lanczos4 RGBA, taps past both borders",
       {0,   15,  70,  116, 75, 129, 160, 45,  179, 229, 240, 6,   122, 148, 179, 113, 37,  44,  99,  217,
        8,   57,  112, 145, 65, 119, 150, 84,  126, 176, 187, 36,  112, 138, 169, 91,  78,  86,  141, 156,
        78,  128, 184, 193, 47, 102, 133, 151, 35,  86,  98,  87,  95,  122, 153, 55,  149, 157, 213, 51,
        119, 169, 225, 221, 37, 92,  124, 190, 0,   33,  45,  117, 85,  112, 144, 34,  191, 199, 255, 0}},
  };
  for (const U8Case& c : cases) {
    SCOPED_TRACE(c.what);
    const Image got = cv_resize(pattern(c.sw, c.sh, c.cn), c.dw, c.dh, c.interpolation);
    ASSERT_EQ(got.width, c.dw);
    ASSERT_EQ(got.height, c.dh);
    ASSERT_EQ(got.pixels.size(), c.want.size());
    for (size_t i = 0; i < c.want.size(); ++i) EXPECT_EQ(int(got.pixels[i]), c.want[i]) << "element " << i;
  }
}

TEST(OpenCVResize, FloatBilinearMatchesOpenCV) {
  const std::vector<F32Case> cases = {
      {8,
       6,
       4,
       3,
       {-8.571426868e-01f, 9.714285851e+00f, 1.114285660e+01f, 3.428571463e+00f, 6.857142448e+00f,
        -8.571426868e-01f, 9.714285851e+00f, 1.114285660e+01f, 1.457142925e+01f, 6.857142448e+00f,
        -8.571426868e-01f, 9.714285851e+00f}},
      {9,
       6,
       4,
       3,
       {-1.964285374e-01f, 1.169642830e+01f, 5.303570747e+00f, -1.089285612e+00f, 7.517857552e+00f,
        1.125000477e+00f, 1.301785660e+01f, 6.624999523e+00f, 1.523214340e+01f, 8.839285851e+00f,
        2.446428776e+00f, 1.433928585e+01f}},
      {3, 4, 7, 5, {-1.000000000e+01f, -9.244897842e+00f, -6.979591846e+00f, -4.714285851e+00f,
                    -2.448979616e+00f, -1.836740077e-01f, 5.714282990e-01f,  -9.000000954e-01f,
                    -1.448979378e-01f, 2.120408297e+00f,  4.385715008e+00f,  6.651021004e+00f,
                    8.916325569e+00f,  9.671428680e+00f,  9.500000000e+00f,  1.025510216e+01f,
                    1.252040863e+01f,  1.478571510e+01f,  9.214285851e+00f,  3.642857552e+00f,
                    1.785714149e+00f,  8.928572655e+00f,  9.683673859e+00f,  1.194898129e+01f,
                    1.421428776e+01f,  5.508162975e+00f,  -3.197958946e+00f, -6.100000381e+00f,
                    -7.571428299e+00f, -6.816326141e+00f, -4.551020145e+00f, -2.285714149e+00f,
                    -2.040791512e-02f, 2.244897604e+00f,  3.000000000e+00f}},
  };
  for (const F32Case& c : cases) {
    std::vector<float> plane(static_cast<size_t>(c.sw) * c.sh);
    for (int y = 0; y < c.sh; ++y)
      for (int x = 0; x < c.sw; ++x)
        plane[y * c.sw + x] = static_cast<float>((x * 37 + y * 91) % 256) / 7.0f - 10.f;
    const std::vector<float> got = cv_resize_linear(plane, c.sw, c.sh, c.dw, c.dh);
    ASSERT_EQ(got.size(), c.want.size());
    // Printed with 9 significant digits: the same float32.
    for (size_t i = 0; i < got.size(); ++i)
      EXPECT_EQ(got[i], c.want[i]) << c.sw << "x" << c.sh << " element " << i;
  }
}

// Float32 planes through INTER_AREA and INTER_LANCZOS4 (the OpenPose annotator's heat maps; its fixtures in
// openpose_test check the exact values): the 8-bit paths' weights without the fixed-point rounding.
PlaneF32 float_pattern(int w, int h) {
  PlaneF32 p{w, h, std::vector<float>(static_cast<size_t>(w) * h)};
  const Image img = pattern(w, h, 1);
  for (size_t i = 0; i < p.values.size(); ++i) p.values[i] = img.pixels[i];
  return p;
}

TEST(OpenCVResize, FloatPlanesFollowTheEightBitPaths) {
  // Integer-valued planes: the float result rounds to the 8-bit one or next to it (11-bit weights there).
  struct Case {
    int sw, sh, dw, dh;
    CvInterpolation interpolation;
  };
  for (const Case& c : std::vector<Case>{{11, 7, 88, 56, CvInterpolation::Lanczos4},
                                         {13, 9, 20, 31, CvInterpolation::Lanczos4},
                                         {40, 30, 17, 11, CvInterpolation::Lanczos4},
                                         {40, 30, 17, 11, CvInterpolation::Area},
                                         {30, 20, 10, 5, CvInterpolation::Area},
                                         {12, 10, 5, 23, CvInterpolation::Area},
                                         {20, 9, 31, 14, CvInterpolation::Linear}}) {
    const PlaneF32 in = float_pattern(c.sw, c.sh);
    const PlaneF32 got = cv_resize(in, c.dw, c.dh, c.interpolation);
    const Image want = cv_resize(pattern(c.sw, c.sh, 1), c.dw, c.dh, c.interpolation);
    ASSERT_EQ(got.width, c.dw);
    ASSERT_EQ(got.height, c.dh);
    for (size_t i = 0; i < got.values.size(); ++i) {
      const double v = std::clamp(std::nearbyint(got.values[i]), 0.0f, 255.0f);
      EXPECT_LE(std::fabs(v - want.pixels[i]), 1.0)
          << c.sw << "x" << c.sh << " -> " << c.dw << "x" << c.dh << " element " << i;
    }
  }
}

TEST(OpenCVResize, FloatAreaWithIntegerFactorsIsTheBlockMean) {
  // 3x2 blocks (left-to-right float sums) and 2x2 blocks (OpenCV's vector pairing on the first 4k columns);
  // both within a float rounding of the mean computed in double.
  for (const auto& [fx, fy] : std::vector<std::pair<int, int>>{{3, 2}, {2, 2}}) {
    const int dw = 7, dh = 5;
    PlaneF32 in{dw * fx, dh * fy, std::vector<float>(static_cast<size_t>(dw * fx * dh * fy))};
    for (size_t i = 0; i < in.values.size(); ++i)
      in.values[i] = std::sin(static_cast<float>(i) * 0.37f) * 3.f;
    const PlaneF32 got = cv_resize(in, dw, dh, CvInterpolation::Area);
    for (int y = 0; y < dh; ++y)
      for (int x = 0; x < dw; ++x) {
        double mean = 0;
        for (int by = 0; by < fy; ++by)
          for (int bx = 0; bx < fx; ++bx) mean += in.at(x * fx + bx, y * fy + by);
        mean /= fx * fy;
        EXPECT_NEAR(got.at(x, y), mean, 2e-6) << fx << "x" << fy << " at " << x << "," << y;
      }
  }
}

TEST(OpenCVResize, FloatPlaneErrors) {
  const PlaneF32 in = float_pattern(6, 4);
  EXPECT_EQ(cv_resize(in, 6, 4, CvInterpolation::Lanczos4).values, in.values);
  EXPECT_NE(test::error_of([&] { cv_resize(in, 3, 2, CvInterpolation::Cubic); }).find("INTER_CUBIC"),
            std::string::npos);
  EXPECT_NE(test::error_of([&] { cv_resize(in, 0, 2, CvInterpolation::Area); }).find("cannot resize"),
            std::string::npos);
  const PlaneF32 bad{6, 5, in.values};
  EXPECT_NE(test::error_of([&] { cv_resize(bad, 3, 2, CvInterpolation::Area); }).find("wrong value count"),
            std::string::npos);
}

TEST(OpenCVResize, SameSizeIsACopyAndBadSizesAreErrors) {
  const Image img = pattern(5, 4, 3);
  for (CvInterpolation m : {CvInterpolation::Linear, CvInterpolation::Area, CvInterpolation::Lanczos4})
    EXPECT_EQ(cv_resize(img, 5, 4, m).pixels, img.pixels);
  EXPECT_NE(test::error_of([&] { cv_resize(img, 0, 4, CvInterpolation::Linear); }).find("cannot resize"),
            std::string::npos);
  EXPECT_NE(test::error_of([&] {
              cv_resize_linear({1.f, 2.f}, 3, 1, 2, 2);
            }).find("wrong value count"),
            std::string::npos);
}

}  // namespace
}  // namespace i2i
