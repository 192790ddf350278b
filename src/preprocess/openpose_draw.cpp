#include "preprocess/openpose_draw.h"

#include <algorithm>
#include <climits>
#include <cmath>

#include "core/error.h"

namespace i2i {

namespace {

constexpr int kShift = 16;  // XY_SHIFT
constexpr int64_t kOne = int64_t{1} << kShift;

// OpenCV's table of sin(0..450 degrees) in float (drawing.cpp SinTable), generated from its 7-digit values.
const std::array<float, 451>& sin_table() {
  static const std::array<float, 451> table = [] {
    // sin(d) for d = 0..90 as OpenCV lists them; the rest follows by symmetry (OpenCV's table is built the
    // same way: sin(180 - d) = sin(d), sin(180 + d) = -sin(d), and -0.0 at 360).
    static const float q[91] = {
        0.0000000f, 0.0174524f, 0.0348995f, 0.0523360f, 0.0697565f, 0.0871557f, 0.1045285f, 0.1218693f,
        0.1391731f, 0.1564345f, 0.1736482f, 0.1908090f, 0.2079117f, 0.2249511f, 0.2419219f, 0.2588190f,
        0.2756374f, 0.2923717f, 0.3090170f, 0.3255682f, 0.3420201f, 0.3583679f, 0.3746066f, 0.3907311f,
        0.4067366f, 0.4226183f, 0.4383711f, 0.4539905f, 0.4694716f, 0.4848096f, 0.5000000f, 0.5150381f,
        0.5299193f, 0.5446390f, 0.5591929f, 0.5735764f, 0.5877853f, 0.6018150f, 0.6156615f, 0.6293204f,
        0.6427876f, 0.6560590f, 0.6691306f, 0.6819984f, 0.6946584f, 0.7071068f, 0.7193398f, 0.7313537f,
        0.7431448f, 0.7547096f, 0.7660444f, 0.7771460f, 0.7880108f, 0.7986355f, 0.8090170f, 0.8191520f,
        0.8290376f, 0.8386706f, 0.8480481f, 0.8571673f, 0.8660254f, 0.8746197f, 0.8829476f, 0.8910065f,
        0.8987940f, 0.9063078f, 0.9135455f, 0.9205049f, 0.9271839f, 0.9335804f, 0.9396926f, 0.9455186f,
        0.9510565f, 0.9563048f, 0.9612617f, 0.9659258f, 0.9702957f, 0.9743701f, 0.9781476f, 0.9816272f,
        0.9848078f, 0.9876883f, 0.9902681f, 0.9925462f, 0.9945219f, 0.9961947f, 0.9975641f, 0.9986295f,
        0.9993908f, 0.9998477f, 1.0000000f};
    std::array<float, 451> t{};
    for (int d = 0; d <= 450; ++d) {
      const int m = d % 360;
      float v = m <= 90 ? q[m] : m <= 180 ? q[180 - m] : m <= 270 ? -q[m - 180] : -q[360 - m];
      if (d == 360) v = -0.0f;
      t[d] = v;
    }
    return t;
  }();
  return table;
}

void hline(Image& img, int y, int x1, int x2, const std::array<uint8_t, 4>& color) {
  uint8_t* row = img.row(y);
  for (int x = x1; x <= x2; ++x)
    for (int c = 0; c < img.channels; ++c) row[static_cast<size_t>(x) * img.channels + c] = color[c];
}

// clipLine(Size, Point&, Point&) on 64-bit integers; false when the segment misses the image.
bool clip_line(int64_t width, int64_t height, int64_t& x1, int64_t& y1, int64_t& x2, int64_t& y2) {
  const int64_t right = width - 1, bottom = height - 1;
  if (width <= 0 || height <= 0) return false;
  int c1 = (x1 < 0) + (x1 > right) * 2 + (y1 < 0) * 4 + (y1 > bottom) * 8;
  int c2 = (x2 < 0) + (x2 > right) * 2 + (y2 < 0) * 4 + (y2 > bottom) * 8;
  if ((c1 & c2) == 0 && (c1 | c2) != 0) {
    int64_t a;
    if (c1 & 12) {
      a = c1 < 8 ? 0 : bottom;
      x1 += (a - y1) * (x2 - x1) / (y2 - y1);
      y1 = a;
      c1 = (x1 < 0) + (x1 > right) * 2;
    }
    if (c2 & 12) {
      a = c2 < 8 ? 0 : bottom;
      x2 += (a - y2) * (x2 - x1) / (y2 - y1);
      y2 = a;
      c2 = (x2 < 0) + (x2 > right) * 2;
    }
    if ((c1 & c2) == 0 && (c1 | c2) != 0) {
      if (c1) {
        a = c1 == 1 ? 0 : right;
        y1 += (a - x1) * (y2 - y1) / (x2 - x1);
        x1 = a;
        c1 = 0;
      }
      if (c2) {
        a = c2 == 1 ? 0 : right;
        y2 += (a - x2) * (y2 - y1) / (x2 - x1);
        x2 = a;
        c2 = 0;
      }
    }
  }
  return (c1 | c2) == 0;
}

// Line(img, pt1, pt2, color, 8): LineIterator (8-connected, left to right) over the clipped segment.
void line8(Image& img, CvPoint p1, CvPoint p2, const std::array<uint8_t, 4>& color) {
  int64_t x1 = p1.x, y1 = p1.y, x2 = p2.x, y2 = p2.y;
  if (x1 < 0 || x1 >= img.width || x2 < 0 || x2 >= img.width || y1 < 0 || y1 >= img.height || y2 < 0 ||
      y2 >= img.height) {
    if (!clip_line(img.width, img.height, x1, y1, x2, y2)) return;
  }
  int64_t dx = x2 - x1, dy = y2 - y1;
  if (dx < 0) {  // left to right
    dx = -dx;
    dy = -dy;
    std::swap(x1, x2);
    std::swap(y1, y2);
  }
  const int ystep = dy < 0 ? -1 : 1;
  dy = dy < 0 ? -dy : dy;
  const bool steep = dy > dx;
  const int64_t major = steep ? dy : dx, minor = steep ? dx : dy;
  int64_t err = major - (minor + minor);
  const int64_t plus_delta = major + major, minus_delta = -(minor + minor);
  int64_t x = x1, y = y1;
  for (int64_t i = 0; i <= major; ++i) {
    uint8_t* p = img.pixel(static_cast<int>(x), static_cast<int>(y));
    for (int c = 0; c < img.channels; ++c) p[c] = color[c];
    const bool step_minor = err < 0;
    err += minus_delta + (step_minor ? plus_delta : 0);
    if (steep) {
      y += ystep;
      if (step_minor) x += 1;
    } else {
      x += 1;
      if (step_minor) y += ystep;
    }
  }
}

}  // namespace

std::vector<CvPoint> cv_ellipse2poly(CvPoint center, int axis_x, int axis_y, int angle, int arc_start,
                                     int arc_end, int delta) {
  check(delta > 0 && delta <= 180, "ellipse2Poly: delta must be in 1..180");
  const auto& sin_tab = sin_table();
  while (angle < 0) angle += 360;
  while (angle > 360) angle -= 360;
  if (arc_start > arc_end) std::swap(arc_start, arc_end);
  while (arc_start < 0) arc_start += 360, arc_end += 360;
  while (arc_end > 360) arc_end -= 360, arc_start -= 360;
  if (arc_end - arc_start > 360) arc_start = 0, arc_end = 360;
  const int a = angle + (angle < 0 ? 360 : 0);
  const float alpha = sin_tab[450 - a], beta = sin_tab[a];  // cos, sin
  std::vector<CvPoint> pts;
  CvPoint prev{INT_MIN, INT_MIN};
  for (int i = arc_start; i < arc_end + delta; i += delta) {
    int t = i;
    if (t > arc_end) t = arc_end;
    if (t < 0) t += 360;
    const double x = static_cast<double>(axis_x) * sin_tab[450 - t];
    const double y = static_cast<double>(axis_y) * sin_tab[t];
    const double px = static_cast<double>(center.x) + x * alpha - y * beta;
    const double py = static_cast<double>(center.y) + x * beta + y * alpha;
    const CvPoint pt{static_cast<int>(std::lrint(px)), static_cast<int>(std::lrint(py))};
    if (!(pt == prev)) {
      pts.push_back(pt);
      prev = pt;
    }
  }
  if (pts.size() == 1) pts.assign(2, center);
  return pts;
}

void cv_fill_convex_poly(Image& img, const std::vector<CvPoint>& v, std::array<uint8_t, 4> color) {
  const int npts = static_cast<int>(v.size());
  if (npts == 0) return;
  struct Edge {
    int idx = 0, di = 0;
    int64_t x = 0, dx = 0;
    int ye = 0;
  } edge[2];
  const int64_t delta1 = kOne >> 1, delta2 = kOne >> 1;  // LINE_8
  int imin = 0, edges = npts;
  int64_t xmin = v[0].x, xmax = v[0].x, ymin = v[0].y, ymax = v[0].y;
  CvPoint p0 = v[npts - 1];
  for (int i = 0; i < npts; ++i) {
    const CvPoint p = v[i];
    if (p.y < ymin) {
      ymin = p.y;
      imin = i;
    }
    ymax = std::max<int64_t>(ymax, p.y);
    xmax = std::max<int64_t>(xmax, p.x);
    xmin = std::min<int64_t>(xmin, p.x);
    line8(img, p0, p, color);
    p0 = p;
  }
  if (npts < 3 || xmax < 0 || ymax < 0 || xmin >= img.width || ymin >= img.height) return;
  ymax = std::min<int64_t>(ymax, img.height - 1);
  edge[0].idx = edge[1].idx = imin;
  int y = static_cast<int>(ymin);
  edge[0].ye = edge[1].ye = y;
  edge[0].di = 1;
  edge[1].di = npts - 1;
  edge[0].x = edge[1].x = -kOne;
  edge[0].dx = edge[1].dx = 0;
  do {
    for (int i = 0; i < 2; ++i) {
      if (y < edge[i].ye) continue;
      int idx0 = edge[i].idx;
      const int di = edge[i].di;
      int idx = idx0 + di;
      if (idx >= npts) idx -= npts;
      for (; edges-- > 0;) {
        const int ty = v[idx].y;
        if (ty > y) {
          const int64_t xs = static_cast<int64_t>(v[idx0].x) << kShift;
          const int64_t xe = static_cast<int64_t>(v[idx].x) << kShift;
          edge[i].ye = ty;
          edge[i].dx = ((xe - xs) * 2 + (ty - y)) / (2 * static_cast<int64_t>(ty - y));
          edge[i].x = xs;
          edge[i].idx = idx;
          break;
        }
        idx0 = idx;
        idx += di;
        if (idx >= npts) idx -= npts;
      }
    }
    if (edges < 0) break;
    if (y >= 0) {
      const int left = edge[0].x > edge[1].x ? 1 : 0, right = 1 - left;
      int xx1 = static_cast<int>((edge[left].x + delta1) >> kShift);
      int xx2 = static_cast<int>((edge[right].x + delta2) >> kShift);
      if (xx2 >= 0 && xx1 < img.width) {
        xx1 = std::max(xx1, 0);
        xx2 = std::min(xx2, img.width - 1);
        hline(img, y, xx1, xx2, color);
      }
    }
    edge[0].x += edge[0].dx;
    edge[1].x += edge[1].dx;
  } while (++y <= ymax);
}

void cv_fill_circle(Image& img, CvPoint center, int radius, std::array<uint8_t, 4> color) {
  check(radius >= 0, "circle: negative radius");
  const int w = img.width, h = img.height;
  int err = 0, dx = radius, dy = 0, plus = 1, minus = (radius << 1) - 1;
  const bool inside =
      center.x >= radius && center.x < w - radius && center.y >= radius && center.y < h - radius;
  while (dx >= dy) {
    const int y11 = center.y - dy, y12 = center.y + dy, y21 = center.y - dx, y22 = center.y + dx;
    int x11 = center.x - dx, x12 = center.x + dx, x21 = center.x - dy, x22 = center.x + dy;
    if (inside) {
      hline(img, y11, x11, x12, color);
      hline(img, y12, x11, x12, color);
      hline(img, y21, x21, x22, color);
      hline(img, y22, x21, x22, color);
    } else if (x11 < w && x12 >= 0 && y21 < h && y22 >= 0) {
      x11 = std::max(x11, 0);
      x12 = std::min(x12, w - 1);
      if (static_cast<unsigned>(y11) < static_cast<unsigned>(h)) hline(img, y11, x11, x12, color);
      if (static_cast<unsigned>(y12) < static_cast<unsigned>(h)) hline(img, y12, x11, x12, color);
      if (x21 < w && x22 >= 0) {
        x21 = std::max(x21, 0);
        x22 = std::min(x22, w - 1);
        if (static_cast<unsigned>(y21) < static_cast<unsigned>(h)) hline(img, y21, x21, x22, color);
        if (static_cast<unsigned>(y22) < static_cast<unsigned>(h)) hline(img, y22, x21, x22, color);
      }
    }
    dy++;
    err += plus;
    plus += 2;
    const int mask = (err <= 0) - 1;
    err -= minus & mask;
    dx += mask;
    minus -= mask & 2;
  }
}

void draw_body_pose(Image& canvas, const BodyKeypoints& keypoints) {
  check(canvas.channels == 3, "draw_bodypose: expected an RGB canvas");
  static const int kLimbSeq[17][2] = {{2, 3}, {2, 6},  {3, 4},   {4, 5},  {6, 7},   {7, 8},
                                      {2, 9}, {9, 10}, {10, 11}, {2, 12}, {12, 13}, {13, 14},
                                      {2, 1}, {1, 15}, {15, 17}, {1, 16}, {16, 18}};
  static const uint8_t kColors[18][3] = {
      {255, 0, 0}, {255, 85, 0}, {255, 170, 0}, {255, 255, 0}, {170, 255, 0}, {85, 255, 0},
      {0, 255, 0}, {0, 255, 85}, {0, 255, 170}, {0, 255, 255}, {0, 170, 255}, {0, 85, 255},
      {0, 0, 255}, {85, 0, 255}, {170, 0, 255}, {255, 0, 255}, {255, 0, 170}, {255, 0, 85}};
  const double W = canvas.width, H = canvas.height;
  constexpr int kStickWidth = 4;
  for (int l = 0; l < 17; ++l) {
    const auto& k1 = keypoints[kLimbSeq[l][0] - 1];
    const auto& k2 = keypoints[kLimbSeq[l][1] - 1];
    if (!k1 || !k2) continue;
    const double Y0 = k1->x * W, Y1 = k2->x * W;  // upstream's names: Y holds x, X holds y
    const double X0 = k1->y * H, X1 = k2->y * H;
    const double mX = (X0 + X1) / 2, mY = (Y0 + Y1) / 2;
    const double length = std::pow((X0 - X1) * (X0 - X1) + (Y0 - Y1) * (Y0 - Y1), 0.5);
    const double angle = std::atan2(X0 - X1, Y0 - Y1) * (180.0 / M_PI);
    const std::vector<CvPoint> polygon =
        cv_ellipse2poly({static_cast<int>(mY), static_cast<int>(mX)}, static_cast<int>(length / 2),
                        kStickWidth, static_cast<int>(angle), 0, 360, 1);
    std::array<uint8_t, 4> color{};
    for (int c = 0; c < 3; ++c) color[c] = static_cast<uint8_t>(static_cast<int>(kColors[l][c] * 0.6));
    cv_fill_convex_poly(canvas, polygon, color);
  }
  for (int p = 0; p < 18; ++p) {
    if (!keypoints[p]) continue;
    const int x = static_cast<int>(keypoints[p]->x * W), y = static_cast<int>(keypoints[p]->y * H);
    cv_fill_circle(canvas, {x, y}, 4, {kColors[p][0], kColors[p][1], kColors[p][2], 0});
  }
}

}  // namespace i2i
