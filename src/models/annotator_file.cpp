#include "models/annotator_file.h"

#include <algorithm>
#include <cctype>
#include <system_error>

#include "core/error.h"
#include "models/ldm_keys.h"

namespace i2i {

namespace fs = std::filesystem;

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// "a line-art ...", "an OpenPose ...".
std::string with_article(const std::string& kind) {
  const bool vowel = !kind.empty() && std::string("AEIOUaeiou").find(kind[0]) != std::string::npos;
  return (vowel ? "an " : "a ") + kind;
}

bool has_prefix(const SafeTensors& st, const std::string& prefix) {
  for (const auto& name : st.names())
    if (name.compare(0, prefix.size(), prefix) == 0) return true;
  return false;
}

}  // namespace

std::string annotator_kind(const SafeTensors& st) {
  if (st.contains("model0.1.weight") && st.contains("model4.1.weight")) return "line-art (sk_model)";
  if (st.contains("block1.convs.0.weight") && st.contains("norm")) return "HED soft-edge (ControlNetHED)";
  if (st.contains("conv1_1.weight") || has_prefix(st, "model0.conv1_1")) return "OpenPose body";
  if (has_prefix(st, "pretrained.") && has_prefix(st, "depth_head.")) return "Depth Anything";
  if (has_prefix(st, "control_model.") || has_prefix(st, "controlnet_cond_embedding.")) return "ControlNet";
  if (has_prefix(st, "model.diffusion_model.") || has_prefix(st, "down_blocks.")) return "Stable Diffusion";
  return "";
}

namespace {

// `text` as a Python string literal in double quotes: backslash and quote escaped, control characters (a
// newline in a file name) as \xNN; other bytes (UTF-8 included) as they are.
std::string python_literal(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u == 0x7f) {
      static const char* const kHex = "0123456789abcdef";
      out += "\\x";
      out += kHex[u >> 4];
      out += kHex[u & 15];
    } else {
      out += c;
    }
  }
  return out + "\"";
}

// `text` as one shell word in single quotes: nothing inside is expanded (not $, `, \ or an interactive
// shell's history !); a quote in it becomes '\''.
std::string shell_single_quoted(const std::string& text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  return out + "'";
}

}  // namespace

std::string pth_conversion_command(const fs::path& pth) {
  const std::string out = fs::path(pth).replace_extension(".safetensors").string();
  return "python -c " +
         shell_single_quoted(
             "import torch, safetensors.torch as s; s.save_file({k: v.contiguous() for k, v in torch.load(" +
             python_literal(pth.string()) + ", map_location=\"cpu\", weights_only=True).items()}, " +
             python_literal(out) + ")");
}

Weights load_annotator_weights(const fs::path& file, const std::string& marker, const std::string& kind) {
  const std::string ext = lower(file.extension().string());
  if (ext == ".pth" || ext == ".pt" || ext == ".ckpt" || ext == ".bin") {
    throw Error(
        file.string() +
        ": pickled checkpoints are not loaded (unpickling runs code from the file); convert it once: " +
        pth_conversion_command(file));
  }
  std::error_code ec;
  if (!fs::exists(file, ec)) throw Error(file.string() + ": no such file");
  if (fs::is_directory(file, ec)) throw Error(file.string() + ": is a folder, not a " + kind + " checkpoint");
  const SafeTensors st = SafeTensors::open(file);
  if (!st.contains(marker)) {
    const std::string found = annotator_kind(st);
    if (!found.empty() && found != kind)
      throw Error(file.string() + ": is " + with_article(found) + " checkpoint, not " + with_article(kind) +
                  " one");
    throw Error(file.string() + ": not " + with_article(kind) + " checkpoint (no tensor '" + marker + "')");
  }
  for (const auto& name : st.names()) {
    const DType t = st.info(name).dtype;
    if (t != DType::F32 && t != DType::F16 && t != DType::BF16)
      throw Error(file.string() + ": tensor '" + name + "' is " + std::string(dtype_name(t)) +
                  ", expected F32, F16 or BF16");
  }
  return weights_from_safetensors(st);
}

}  // namespace i2i
