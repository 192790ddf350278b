#include "preprocess/openpose_people.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/error.h"

namespace i2i {

namespace {

// body.py's limbSeq (1-based parts) and mapIdx (PAF channel + 19) per limb.
constexpr int kLimbs = 19;
constexpr int kLimbSeq[kLimbs][2] = {{2, 3},   {2, 6},   {3, 4},   {4, 5},   {6, 7},   {7, 8}, {2, 9},
                                     {9, 10},  {10, 11}, {2, 12},  {12, 13}, {13, 14}, {2, 1}, {1, 15},
                                     {15, 17}, {1, 16},  {16, 18}, {3, 17},  {6, 18}};
constexpr int kMapIdx[kLimbs][2] = {{31, 32}, {39, 40}, {33, 34}, {35, 36}, {41, 42}, {43, 44}, {19, 20},
                                    {21, 22}, {23, 24}, {25, 26}, {27, 28}, {29, 30}, {47, 48}, {49, 50},
                                    {53, 54}, {51, 52}, {55, 56}, {37, 38}, {45, 46}};

struct Connection {
  int id_a, id_b;  // candidate ids
  double score;
  int i, j;  // indices in the parts' candidate lists
};

// np.linspace(a, b, 10)[k] for integers a, b: k * ((b - a) / 9) + a, the last one exactly b.
double linspace10(int a, int b, int k) {
  if (k == 9) return b;
  const double step = (static_cast<double>(b) - a) / 9;
  if (step == 0) return static_cast<double>(k) / 9 * (static_cast<double>(b) - a) + a;
  return k * step + a;
}

std::vector<Connection> connect_limb(const std::vector<PoseCandidate>& a, const std::vector<PoseCandidate>& b,
                                     const PlaneF32& paf_x, const PlaneF32& paf_y, int image_height) {
  struct Candidate {
    int i, j;
    double score;
  };
  std::vector<Candidate> scored;
  for (size_t i = 0; i < a.size(); ++i)
    for (size_t j = 0; j < b.size(); ++j) {
      const int64_t vx = b[j].x - a[i].x, vy = b[j].y - a[i].y;
      const double norm = std::max(0.001, std::sqrt(static_cast<double>(vx * vx + vy * vy)));
      const double ux = vx / norm, uy = vy / norm;
      double sum = 0;
      int above = 0;
      for (int k = 0; k < 10; ++k) {
        const int px = static_cast<int>(std::nearbyint(linspace10(a[i].x, b[j].x, k)));
        const int py = static_cast<int>(std::nearbyint(linspace10(a[i].y, b[j].y, k)));
        const double d =
            static_cast<double>(paf_x.at(px, py)) * ux + static_cast<double>(paf_y.at(px, py)) * uy;
        sum += d;
        if (d > 0.05) ++above;
      }
      const double score = sum / 10 + std::min(0.5 * image_height / norm - 1, 0.0);
      if (above > 8 && score > 0) scored.push_back({static_cast<int>(i), static_cast<int>(j), score});
    }
  std::stable_sort(scored.begin(), scored.end(),
                   [](const Candidate& l, const Candidate& r) { return l.score > r.score; });
  std::vector<Connection> out;
  std::vector<bool> used_a(a.size()), used_b(b.size());
  const size_t limit = std::min(a.size(), b.size());
  for (const Candidate& c : scored) {
    if (used_a[c.i] || used_b[c.j]) continue;
    used_a[c.i] = used_b[c.j] = true;
    out.push_back({a[c.i].id, b[c.j].id, c.score, c.i, c.j});
    if (out.size() >= limit) break;
  }
  return out;
}

}  // namespace

std::vector<PoseSubsetRow> assemble_people(const std::vector<std::vector<PoseCandidate>>& peaks,
                                           const std::vector<PlaneF32>& pafs, int image_height) {
  check(peaks.size() == 18,
        "openpose: expected the candidates of 18 parts, got " + std::to_string(peaks.size()));
  check(pafs.size() == 38, "openpose: expected 38 PAF planes, got " + std::to_string(pafs.size()));
  std::vector<double> score_of;  // candidate id -> score
  for (const auto& part : peaks)
    for (const PoseCandidate& c : part) {
      check(c.id == static_cast<int>(score_of.size()), "openpose: candidate ids are not consecutive");
      score_of.push_back(c.score);
    }

  std::vector<std::vector<Connection>> connections(kLimbs);
  std::vector<bool> special(kLimbs, false);
  for (int k = 0; k < kLimbs; ++k) {
    const auto& a = peaks[kLimbSeq[k][0] - 1];
    const auto& b = peaks[kLimbSeq[k][1] - 1];
    if (a.empty() || b.empty()) {
      special[k] = true;
      continue;
    }
    connections[k] = connect_limb(a, b, pafs[kMapIdx[k][0] - 19], pafs[kMapIdx[k][1] - 19], image_height);
  }

  std::vector<PoseSubsetRow> subset;
  for (int k = 0; k < kLimbs; ++k) {
    if (special[k]) continue;
    const int index_a = kLimbSeq[k][0] - 1, index_b = kLimbSeq[k][1] - 1;
    for (const Connection& c : connections[k]) {
      const double part_a = c.id_a, part_b = c.id_b;
      int found = 0;
      size_t rows[2] = {0, 0};
      for (size_t j = 0; j < subset.size(); ++j)
        if (subset[j][index_a] == part_a || subset[j][index_b] == part_b) {
          if (found < 2) rows[found] = j;
          ++found;
        }
      if (found == 1) {
        PoseSubsetRow& row = subset[rows[0]];
        if (row[index_b] != part_b) {
          row[index_b] = part_b;
          row[19] += 1;
          row[18] += score_of[c.id_b] + c.score;
        }
      } else if (found >= 2) {
        PoseSubsetRow& r1 = subset[rows[0]];
        const PoseSubsetRow& r2 = subset[rows[1]];
        bool overlap = false;
        for (int p = 0; p < 18; ++p) overlap = overlap || (r1[p] >= 0 && r2[p] >= 0);
        if (!overlap) {
          for (int p = 0; p < 18; ++p) r1[p] += r2[p] + 1;
          r1[18] += r2[18];
          r1[19] += r2[19];
          r1[18] += c.score;
          subset.erase(subset.begin() + static_cast<ptrdiff_t>(rows[1]));
        } else {
          r1[index_b] = part_b;
          r1[19] += 1;
          r1[18] += score_of[c.id_b] + c.score;
        }
      } else if (k < 17) {
        PoseSubsetRow row;
        row.fill(-1);
        row[index_a] = part_a;
        row[index_b] = part_b;
        row[19] = 2;
        row[18] = (0.0 + score_of[c.id_a] + score_of[c.id_b]) + c.score;
        subset.push_back(row);
      }
    }
  }
  std::vector<PoseSubsetRow> kept;
  for (const PoseSubsetRow& row : subset)
    if (!(row[19] < 4 || row[18] / row[19] < 0.4)) kept.push_back(row);
  return kept;
}

std::vector<BodyKeypoints> normalized_keypoints(const std::vector<std::vector<PoseCandidate>>& peaks,
                                                const std::vector<PoseSubsetRow>& people, int width,
                                                int height) {
  std::vector<const PoseCandidate*> by_id;
  for (const auto& part : peaks)
    for (const PoseCandidate& c : part) by_id.push_back(&c);
  std::vector<BodyKeypoints> out;
  for (const PoseSubsetRow& row : people) {
    BodyKeypoints k;
    for (int p = 0; p < 18; ++p) {
      const int id = static_cast<int>(row[p]);
      if (id == -1) continue;
      check(id >= 0 && id < static_cast<int>(by_id.size()), "openpose: bad candidate id in a person");
      k[p] =
          PoseKeypoint{by_id[id]->x / static_cast<double>(width), by_id[id]->y / static_cast<double>(height)};
    }
    out.push_back(k);
  }
  return out;
}

}  // namespace i2i
