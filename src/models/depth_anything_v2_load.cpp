#include "models/depth_anything_v2_load.h"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>

#include "core/error.h"
#include "io/config_file.h"
#include "io/safetensors.h"
#include "models/annotator_file.h"

namespace i2i {

namespace {

namespace fs = std::filesystem;

bool looks_pickled(const fs::path& file) {
  std::string ext = file.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  if (ext == ".pth" || ext == ".pt" || ext == ".ckpt" || ext == ".bin") return true;
  std::ifstream in(file, std::ios::binary);
  char head[4] = {};
  in.read(head, 4);
  if (in.gcount() < 2) return false;
  // torch.save's zip archive, or a bare pickle (protocol 2+ starts with 0x80).
  return (head[0] == 'P' && head[1] == 'K') || static_cast<unsigned char>(head[0]) == 0x80;
}

// What a file that is not Depth Anything V2 seems to be, for the message.
std::string guess_kind(const SafeTensors& st) {
  if (st.contains("conv1_1.weight") || st.contains("model0.conv1_1.weight"))
    return " (it looks like an OpenPose body model)";
  for (const std::string& n : st.names()) {
    if (n.rfind("control_model.", 0) == 0 || n.rfind("controlnet_", 0) == 0)
      return " (it looks like a ControlNet)";
    if (n.rfind("model.diffusion_model.", 0) == 0) return " (it looks like a Stable Diffusion checkpoint)";
  }
  return "";
}

}  // namespace

DepthAnythingV2 load_depth_anything_v2(const fs::path& file, Precision precision) {
  std::error_code ec;
  if (!fs::exists(file, ec)) throw Error(file.string() + ": no such file");
  if (fs::is_directory(file, ec)) throw Error(file.string() + ": is a folder, expected a .safetensors file");
  check(fs::is_regular_file(file, ec), file.string() + ": not a regular file");
  if (looks_pickled(file))
    throw Error(
        file.string() +
        ": pickled PyTorch files are not loaded (unpickling runs code from the file); convert it once "
        "with: " +
        pth_conversion_command(file));
  const SafeTensors st = SafeTensors::open(file);
  if (!st.contains("pretrained.cls_token") || !st.contains("depth_head.scratch.output_conv1.weight"))
    throw Error(file.string() +
                ": not a Depth Anything V2 checkpoint (no 'pretrained.cls_token' / "
                "'depth_head.*' tensors)" +
                guess_kind(st));
  Weights w(file.string());
  for (const std::string& name : st.names())
    if (name.rfind("pretrained.", 0) == 0 || name.rfind("depth_head.", 0) == 0) w.add(name, st.get(name));
  std::optional<nlohmann::json> sidecar;
  fs::path side = file;
  side.replace_extension(".json");
  if (fs::is_regular_file(side, ec)) sidecar = read_config_json(side);
  const DepthAnythingV2Config config = infer_depth_anything_v2_config(w, sidecar ? &*sidecar : nullptr);
  return DepthAnythingV2(w, config, precision);
}

}  // namespace i2i
