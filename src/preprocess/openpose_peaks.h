// OpenPose body keypoint candidates as controlnet_aux's open_pose/body.py finds them (the same code as
// lllyasviel's annotator): each part's heatmap is blurred with scipy.ndimage.gaussian_filter(sigma=3) in
// float64, and a peak is a pixel whose blurred value is >= its 4 neighbours (0 beyond the border) and > 0.1.
#pragma once

#include <vector>

#include "io/cv_resize.h"

namespace i2i {

// One keypoint candidate: pixel (x, y) of the detect-size maps, the unblurred heatmap value there, and its
// running id (its row in the candidate table: parts in order, each part's peaks row-major).
struct PoseCandidate {
  int x = 0, y = 0;
  double score = 0;
  int id = 0;
};

// scipy.ndimage.gaussian_filter(values, sigma) for a float64 image (row-major, width x height): 1-D
// correlations along y then x with the normalised kernel exp(-x^2 / (2 sigma^2)) of radius
// int(4 sigma + 0.5), 'reflect' borders (d c b a | a b c d | d c b a), scipy's symmetric-kernel summation.
std::vector<double> gaussian_filter_scipy(const std::vector<double>& values, int width, int height,
                                          double sigma);

// The candidates of parts 0..17 from the detect-size heatmaps (at least 18 planes of equal size; the
// background plane 18 is not searched), as body.py: per part, peaks in row-major order.
std::vector<std::vector<PoseCandidate>> find_pose_peaks(const std::vector<PlaneF32>& heatmaps);

}  // namespace i2i
