// OpenPose body: from keypoint candidates and part-affinity fields to people, exactly as controlnet_aux's
// open_pose/body.py (lllyasviel's annotator) does it, in float64:
//  - 19 limbs (limbSeq / mapIdx): every candidate pair (A, B) is scored by sampling the limb's two PAF
//    channels at 10 points np.linspace(A, B, 10) rounded half to even: score = mean(paf . unit(B - A)) +
//    min(0.5 H / |B - A| - 1, 0); kept when more than 8 of the 10 dot products are > 0.05 and score > 0;
//    then greedily by score (stable, descending), each A and B used once, at most min(nA, nB) limbs;
//  - people (rows of 18 candidate ids or -1, total score, part count) grow limb by limb: a limb touching
//    one row extends it, one touching two disjoint rows merges them, a new row only for the first 17 limbs;
//    rows with fewer than 4 parts or a mean score below 0.4 are dropped.
#pragma once

#include <array>
#include <optional>
#include <vector>

#include "io/cv_resize.h"
#include "preprocess/openpose_peaks.h"

namespace i2i {

// body.py's subset row: candidate ids of parts 0..17 (-1: absent), total score, part count.
using PoseSubsetRow = std::array<double, 20>;

// The people found from `peaks` (find_pose_peaks) and the detect-size PAFs (38 planes). `image_height` is
// the detect image's height (the distance prior). Upstream fails (IndexError) when a limb touches three
// rows; here the first two are taken.
std::vector<PoseSubsetRow> assemble_people(const std::vector<std::vector<PoseCandidate>>& peaks,
                                           const std::vector<PlaneF32>& pafs, int image_height);

// A person's 18 keypoints as fractions of the detect image's width and height (x / W, y / H), absent
// parts empty: what controlnet_aux's detect_poses hands draw_bodypose.
struct PoseKeypoint {
  double x = 0, y = 0;
};
using BodyKeypoints = std::array<std::optional<PoseKeypoint>, 18>;
std::vector<BodyKeypoints> normalized_keypoints(const std::vector<std::vector<PoseCandidate>>& peaks,
                                                const std::vector<PoseSubsetRow>& people, int width,
                                                int height);

}  // namespace i2i
