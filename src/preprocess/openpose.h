// The OpenPose body preprocessor ("openpose" in the A1111 ControlNet extension and ComfyUI), reproducing
// controlnet_aux's OpenposeDetector(Body)(image, detect_resolution, image_resolution, include_body=True,
// include_hand=False, include_face=False) (huggingface/controlnet_aux open_pose/{__init__,body,util}.py,
// the same code as lllyasviel's annotator), stage by stage:
//  1. HWC3 (annotator_resize.h), then resize_image(image, detect_resolution): k = res / min(H, W), sides
//     int(round(side k / 64)) * 64 (half to even), cv2.resize LANCZOS4 if k > 1 else AREA: the detect
//     image (H x W);
//  2. the network sees it in BGR, scaled by 0.5 * 368 / H (smart_resize_k: sides int(side * scale),
//     AREA if (Ht + Wt) / (H + W) < 1 else LANCZOS4), padded bottom/right with 128 to multiples of 8,
//     value / 256 - 0.5 (float32);
//  3. OpenposeBody (models/openpose_body_model.h): 38 PAFs and 19 heatmaps at 1/8;
//  4. every channel: smart_resize_k x8 (LANCZOS4, float32), the padding cropped, smart_resize to H x W;
//  5. peaks (preprocess/openpose_peaks.h), limbs and people (preprocess/openpose_people.h);
//  6. draw_bodypose on a black H x W canvas (preprocess/openpose_draw.h), then cv2.resize INTER_LINEAR to
//     resize_image(detect image, image_resolution)'s size.
#pragma once

#include <vector>

#include "core/tensor.h"
#include "io/cv_resize.h"
#include "io/image.h"
#include "models/openpose_body_model.h"
#include "preprocess/control_preprocessors.h"
#include "preprocess/openpose_people.h"

namespace i2i {

// Largest side of a detect image or output map (A1111's largest processor resolution): the 57 float32 maps at
// the detect size take 57 * 4 bytes a pixel (3.6 GiB at 4096 x 4096).
inline constexpr int kOpenposeMaxSide = 4096;
// Smallest input image side accepted (as annotator_resize.h's).
inline constexpr int kOpenposeMinInputSide = 16;

// resize_image's target size (width, height) for an image of `width` x `height` at `resolution`.
// ParameterError naming `parameter` when the size is 0 or larger than kOpenposeMaxSide.
struct OpenposeMapSize {
  int width = 0, height = 0;
};
OpenposeMapSize openpose_resize_size(int width, int height, int resolution, const char* parameter);
// Stage 1: HWC3 + resize_image. ParameterError {detect_resolution} for a bad resolution, i2i::Error for an
// image smaller than kOpenposeMinInputSide.
Image openpose_detect_image(const Image& image, int detect_resolution);

// Stage 2: the network input of a detect image (RGB).
struct OpenposeNetInput {
  Tensor image;  // [1, Hp, Wp, 3] float32, BGR, value / 256 - 0.5
  double scale = 0;
  int scaled_width = 0, scaled_height = 0;  // before padding
  int pad_down = 0, pad_right = 0;
};
OpenposeNetInput openpose_net_input(const Image& detect_rgb);

// Stage 4: the network outputs at the detect size, one plane per channel (19 heatmaps, 38 PAFs).
struct OpenposeMaps {
  std::vector<PlaneF32> heatmaps, pafs;
};
OpenposeMaps openpose_detect_maps(const OpenposeBody::Output& net, const OpenposeNetInput& input, int width,
                                  int height);

// Stages 5 and 6 before the final resize.
struct OpenposeDetection {
  std::vector<std::vector<PoseCandidate>> peaks;  // per part 0..17
  std::vector<PoseSubsetRow> people;              // body.py's subset
  std::vector<BodyKeypoints> keypoints;           // normalised, per person
};
OpenposeDetection openpose_detect(const OpenposeMaps& maps, int width, int height);
// The pose drawn on a black width x height RGB canvas.
Image openpose_draw(const std::vector<BodyKeypoints>& people, int width, int height);

// Stages 2-6 on an RGB picture at its own size: the pose drawn on a black canvas of that size.
Image openpose_pose_map(const Image& detect_rgb, const OpenposeBody& body);

// The whole preprocessor: the pose map (RGB) at resize_image(detect image, image_resolution)'s size.
// ParameterError {detect_resolution} / {image_resolution} for resolutions giving an empty or too large map.
Image openpose_preprocess(const Image& image, const OpenposeBody& body, int detect_resolution = 512,
                          int image_resolution = 512);

// A1111's "openpose" module (sd-webui-controlnet scripts/preprocessor/legacy/processor.py OpenposeModel
// .run_model, body only): resize_image_with_pad(source, resolution) (annotator_resize.h: OpenCV cubic / area
// to the short side, edge-padded to multiples of 64), its annotator's OpenposeDetector on the padded picture
// at that size (the same body.py / util.py as controlnet_aux, no further resize), remove_pad. Throws
// i2i::Error for what check_openpose_a1111 or resize_image_with_pad refuse.
Image openpose_a1111(const Image& source, const OpenposeBody& body, int resolution);
// i2i::Error naming the sizes when openpose_a1111 of a width x height picture at `resolution` would make a
// padded picture with a side above kOpenposeMaxSide (checkable before the network is loaded).
void check_openpose_a1111(int width, int height, int resolution);

// The "openpose" row of the ControlNet preprocessors (control_preprocessors.h): loads the body model from
// settings.annotator_model (in settings.precision), runs openpose_a1111 at settings.resolution (Processor
// Res) and releases the model.
Image openpose_control_map(const Image& source, const ControlPreprocessSettings& settings);

}  // namespace i2i
