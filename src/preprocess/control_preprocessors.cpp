// The preprocessor table (control_preprocessors.h). A new preprocessor is one row here plus its run function
// in its own file.
#include "preprocess/control_preprocessors.h"

#include "core/error.h"
#include "preprocess/canny.h"
#include "preprocess/depth_map.h"
#include "preprocess/lineart.h"
#include "preprocess/openpose.h"
#include "preprocess/soft_edge.h"

namespace i2i {

namespace {

Image run_canny(const Image& source, const ControlPreprocessSettings& s) {
  return to_rgb(canny(source, static_cast<int>(s.threshold_a), static_cast<int>(s.threshold_b)));
}

}  // namespace

const std::vector<ControlPreprocessor>& control_preprocessors() {
  static const std::vector<ControlPreprocessor> rows = [] {
    std::vector<ControlPreprocessor> v;
    // name, summary, needs_annotator, uses_resolution, default_resolution,
    // threshold_a, default_threshold_a, threshold_b, default_threshold_b, run, annotator_files
    v.push_back({"none", "the image is the map", false, false, 512, nullptr, 0, nullptr, 0, nullptr});
    // A1111's canny runs at Processor Res; i2i's runs on the control image at the generation size.
    v.push_back({"canny", "OpenCV Canny edges (Threshold A/B = low/high)", false, false, 512, "Low Threshold",
                 100, "High Threshold", 200, run_canny});

    // A1111's depth_anything_v2 module hands the ControlNet the grey map (colored=False).
    v.push_back({"depth_anything_v2",
                 "Depth Anything V2 relative depth (--annotator-model)",
                 true,
                 true,
                 512,
                 nullptr,
                 0,
                 nullptr,
                 0,
                 run_depth_anything_v2,
                 {"depth_anything_v2_vitl", "depth_anything_v2_vitb", "depth_anything_v2_vits"}});

    // A1111's openpose module: its OpenposeDetector (body only) on the picture resized and padded to
    // Processor Res.
    v.push_back({"openpose",
                 "OpenPose body keypoints (--annotator-model body_pose_model.safetensors)",
                 true,
                 true,
                 512,
                 nullptr,
                 0,
                 nullptr,
                 0,
                 openpose_control_map,
                 {"body_pose_model"}});

    // Line art (dark lines on white) and HED soft edges: A1111's resize-and-pad at Processor Res.
    v.push_back({"lineart_realistic",
                 "line art, realistic (sk_model; --annotator-model)",
                 true,
                 true,
                 512,
                 nullptr,
                 0,
                 nullptr,
                 0,
                 run_lineart,
                 {"sk_model"}});
    v.push_back({"lineart_coarse",
                 "line art, coarse (sk_model2; --annotator-model)",
                 true,
                 true,
                 512,
                 nullptr,
                 0,
                 nullptr,
                 0,
                 run_lineart,
                 {"sk_model2"}});
    v.push_back({"softedge_hed",
                 "HED soft edges (ControlNetHED; --annotator-model)",
                 true,
                 true,
                 512,
                 nullptr,
                 0,
                 nullptr,
                 0,
                 run_softedge_hed,
                 {"ControlNetHED"}});
    v.push_back({"softedge_hedsafe",
                 "HED soft edges in 3 levels (ControlNetHED; --annotator-model)",
                 true,
                 true,
                 512,
                 nullptr,
                 0,
                 nullptr,
                 0,
                 run_softedge_hedsafe,
                 {"ControlNetHED"}});

    return v;
  }();
  return rows;
}

const ControlPreprocessor* find_control_preprocessor(std::string_view name) {
  for (const auto& row : control_preprocessors())
    if (name == row.name) return &row;
  return nullptr;
}

const ControlPreprocessor& control_preprocessor(std::string_view name) {
  if (const ControlPreprocessor* row = find_control_preprocessor(name)) return *row;
  throw ParameterError("unknown {control_preprocess} '" + Error::literal(std::string(name)) + "' (" +
                       control_preprocessor_names() + ")");
}

std::string control_preprocessor_names() {
  std::string s;
  for (const auto& row : control_preprocessors()) s += (s.empty() ? "" : ", ") + std::string(row.name);
  return s;
}

}  // namespace i2i
