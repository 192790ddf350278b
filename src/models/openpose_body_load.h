// Loading the OpenPose body model (body_pose_model.pth of lllyasviel/Annotators, as controlnet_aux and the
// A1111 ControlNet extension use it) from its .safetensors conversion. The .pth itself is a pickle and is
// never unpickled: the error says how to convert it once with PyTorch.
//
// Tensor names as in body_pose_model.pth (`conv1_1.weight`, `Mconv7_stage6_L2.bias`, ...); a conversion of
// the module's state_dict (`model0.conv1_1.weight`, `model6_2.Mconv7_stage6_L2.bias`: the prefix that
// controlnet_aux's util.transfer adds) is read too.
#pragma once

#include <filesystem>
#include <string>

#include "io/safetensors.h"
#include "models/openpose_body_model.h"

namespace i2i {

// The file's tensors under body_pose_model.pth's names. i2i::Error naming the file when it is another
// model (a Depth Anything checkpoint, an SD checkpoint, ...) or lacks conv1_1.weight.
Weights openpose_body_weights(const SafeTensors& st);

// Opens, checks and prepares the network. i2i::Error (one line naming the file) for a missing, pickled,
// truncated or foreign file, or inconsistent shapes (naming the tensor).
OpenposeBody load_openpose_body(const std::filesystem::path& file, Precision precision = Precision::F32);

}  // namespace i2i
