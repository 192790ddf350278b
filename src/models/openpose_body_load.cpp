#include "models/openpose_body_load.h"

#include <cctype>
#include <fstream>

#include "core/error.h"
#include "models/annotator_file.h"

namespace i2i {

namespace fs = std::filesystem;

namespace {

// "model0." or "model<stage>_<branch>." (the bodypose_model module prefix), else "".
std::string module_prefix(const std::string& name) {
  if (name.rfind("model", 0) != 0) return "";
  size_t i = 5;
  auto digits = [&] {
    const size_t start = i;
    while (i < name.size() && std::isdigit(static_cast<unsigned char>(name[i]))) ++i;
    return i > start;
  };
  if (!digits()) return "";
  if (i < name.size() && name[i] == '_') {
    ++i;
    if (!digits()) return "";
  }
  return i < name.size() && name[i] == '.' ? name.substr(0, i + 1) : "";
}

bool is_pickle(const fs::path& file) {
  std::string ext = file.extension().string();
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (ext == ".pth" || ext == ".pt" || ext == ".ckpt" || ext == ".bin") return true;
  // A renamed PyTorch file: a zip archive (torch.save since 1.6) or a bare pickle (protocol 2-5).
  std::ifstream in(file, std::ios::binary);
  char magic[2] = {0, 0};
  in.read(magic, 2);
  return in.gcount() == 2 &&
         ((magic[0] == 'P' && magic[1] == 'K') ||
          (static_cast<unsigned char>(magic[0]) == 0x80 && magic[1] >= 2 && magic[1] <= 5));
}

}  // namespace

Weights openpose_body_weights(const SafeTensors& st) {
  const std::string origin = st.path().string();
  Weights w(origin);
  bool depth_anything = false;
  for (const std::string& name : st.names()) {
    if (name.rfind("pretrained.", 0) == 0 || name.rfind("depth_head.", 0) == 0) depth_anything = true;
    w.add(name.substr(module_prefix(name).size()), st.get(name));
  }
  if (depth_anything)
    throw Error(origin +
                ": this is a Depth Anything checkpoint, not an OpenPose body model (body_pose_model)");
  if (!w.has("conv1_1.weight") || !w.has("Mconv7_stage6_L2.weight"))
    throw Error(origin + ": not an OpenPose body model (no tensor '" +
                std::string(w.has("conv1_1.weight") ? "Mconv7_stage6_L2.weight" : "conv1_1.weight") +
                "'; expected the layout of body_pose_model.pth)");
  return w;
}

OpenposeBody load_openpose_body(const fs::path& file, Precision precision) {
  std::error_code ec;
  if (!fs::exists(file, ec)) throw Error(file.string() + ": no such file");
  if (fs::is_directory(file, ec)) throw Error(file.string() + ": is a folder, expected a .safetensors file");
  if (is_pickle(file))
    throw Error(
        file.string() +
        ": pickled PyTorch files are not loaded (unpickling runs code from the file); convert it once "
        "with: " +
        pth_conversion_command(file));
  const SafeTensors st = SafeTensors::open(file);
  return OpenposeBody(openpose_body_weights(st), precision);
}

}  // namespace i2i
