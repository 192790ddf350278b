// Drawing the OpenPose body skeleton as controlnet_aux's open_pose/util.py draw_bodypose does, with the
// integer rasterisers of OpenCV 4 (modules/imgproc/src/drawing.cpp) reproduced pixel for pixel:
//  - limbs: cv2.ellipse2Poly(centre, (int(length / 2), 4), int(angle), 0, 360, 1) (the 1-degree sine table,
//    points rounded half to even, repeats dropped) filled by cv2.fillConvexPoly (8-connected edges, then
//    scanlines with half-pixel rounding), in the limb colour * 0.6;
//  - keypoints: cv2.circle(radius 4, filled): OpenCV's Bresenham circle of horizontal spans.
// Everything is clipped to the canvas as OpenCV clips it.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "io/image.h"
#include "preprocess/openpose_people.h"

namespace i2i {

struct CvPoint {
  int x = 0, y = 0;
  bool operator==(const CvPoint&) const = default;
};

// cv2.ellipse2Poly(center, axes, angle, arc_start, arc_end, delta) (integer points).
std::vector<CvPoint> cv_ellipse2poly(CvPoint center, int axis_x, int axis_y, int angle, int arc_start,
                                     int arc_end, int delta);
// cv2.fillConvexPoly(image, points, color) with lineType LINE_8 and shift 0. `image` has 1-4 channels; the
// first `channels` values of `color` are written.
void cv_fill_convex_poly(Image& image, const std::vector<CvPoint>& points, std::array<uint8_t, 4> color);
// cv2.circle(image, center, radius, color, thickness=-1) (LINE_8, shift 0).
void cv_fill_circle(Image& image, CvPoint center, int radius, std::array<uint8_t, 4> color);

// draw_bodypose(canvas, keypoints) for one person (canvas RGB, drawn in place).
void draw_body_pose(Image& canvas, const BodyKeypoints& keypoints);

}  // namespace i2i
