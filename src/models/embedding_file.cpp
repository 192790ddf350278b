#include "models/embedding_file.h"

#include <algorithm>
#include <cctype>
#include <cmath>

#include "core/error.h"
#include "io/safetensors.h"

namespace i2i {
namespace fs = std::filesystem;

namespace {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// The tensor `key` of `f` as owned float32 [n, width] (a 1-D tensor is one vector).
Tensor read_vectors(const SafeTensors& f, const std::string& key, const std::string& file) {
  const TensorInfo& info = f.info(key);
  if (!dtype_is_float(info.dtype))
    throw Error(file + ": embedding tensor '" + key + "' is " + std::string(dtype_name(info.dtype)) +
                ", not floating point");
  if (info.shape.size() != 1 && info.shape.size() != 2)
    throw Error(file + ": embedding tensor '" + key + "' has shape " + shape_str(info.shape) +
                ", expected [vectors, width]");
  Tensor t = f.get_f32(key).clone();
  if (t.ndim() == 1) t = t.reshape({1, t.dim(0)});
  if (t.dim(0) < 1 || t.dim(1) < 1)
    throw Error(file + ": embedding tensor '" + key + "' has shape " + shape_str(info.shape) +
                ", no vectors");
  if (t.dim(0) > kMaxEmbeddingVectors)
    throw Error(file + ": embedding tensor '" + key + "' has " + std::to_string(t.dim(0)) +
                " vectors, more than the " + std::to_string(kMaxEmbeddingVectors) +
                " tokens of a prompt chunk");
  const float* v = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i)
    if (!std::isfinite(v[i]))
      throw Error(file + ": embedding tensor '" + key + "' holds NaN or infinite values");
  return t;
}

}  // namespace

const Tensor* TextualInversion::vectors_for(int64_t width) const {
  for (const Tensor* t : {&single, &clip_l, &clip_g})
    if (t->defined() && t->numel() > 0 && t->dim(1) == width) return t;
  return nullptr;
}

std::string TextualInversion::widths_text() const {
  if (sdxl()) return "clip_l " + std::to_string(clip_l.dim(1)) + ", clip_g " + std::to_string(clip_g.dim(1));
  return std::to_string(single.dim(1));
}

bool is_embedding_file_name(const fs::path& file) {
  return lower(file.extension().string()) == ".safetensors" || is_pickled_embedding(file);
}

bool is_pickled_embedding(const fs::path& file) {
  const std::string ext = lower(file.extension().string());
  return ext == ".pt" || ext == ".bin" || ext == ".ckpt" || ext == ".pth";
}

TextualInversion read_embedding_file(const fs::path& file) {
  const std::string name = file.filename().string();
  if (is_pickled_embedding(file))
    throw Error(name +
                ": pickled embedding files are not loaded (unpickling runs code from the file); "
                "convert it to .safetensors");
  const SafeTensors f = SafeTensors::open(file);
  TextualInversion e;
  e.name = file.stem().string();
  e.file = file;
  const bool has_l = f.contains("clip_l"), has_g = f.contains("clip_g");
  if (has_l != has_g)
    throw Error(name + ": SDXL embedding with '" + std::string(has_l ? "clip_l" : "clip_g") + "' but no '" +
                (has_l ? "clip_g" : "clip_l") + "'");
  if (has_l) {
    e.clip_l = read_vectors(f, "clip_l", name);
    e.clip_g = read_vectors(f, "clip_g", name);
    if (e.clip_l.dim(0) != e.clip_g.dim(0))
      throw Error(name + ": SDXL embedding with " + std::to_string(e.clip_l.dim(0)) + " clip_l vectors and " +
                  std::to_string(e.clip_g.dim(0)) + " clip_g vectors");
    e.vectors = e.clip_l.dim(0);
    return e;
  }
  std::string key;
  if (f.contains("emb_params")) {
    key = "emb_params";
  } else if (f.names().size() == 1) {
    key = f.names()[0];
  } else {
    std::string names;
    for (const std::string& n : f.names()) names += (names.empty() ? "" : ", ") + n;
    throw Error(name + ": not a textual-inversion embedding: " + std::to_string(f.names().size()) +
                " tensors (" + (names.empty() ? std::string("none") : names) +
                "), expected 'emb_params', 'clip_l' + 'clip_g', or a single tensor");
  }
  e.single = read_vectors(f, key, name);
  e.vectors = e.single.dim(0);
  return e;
}

void check_embedding_fits(const TextualInversion& e, const std::vector<int64_t>& widths) {
  const std::string name = e.file.filename().string();
  std::string model;
  for (int64_t w : widths) model += (model.empty() ? "" : " + ") + std::to_string(w);
  if (widths.size() == 1) {
    if (e.sdxl())
      throw Error(name + ": an SDXL embedding (" + e.widths_text() +
                  ") used with an SD 1.x / 2.x model (one text encoder, " + model + " wide)");
    if (e.single.dim(1) != widths[0])
      throw Error(name + ": embedding vectors are " + e.widths_text() + " wide, the model's text encoder " +
                  model + "; the embedding was made for another model family");
    return;
  }
  if (!e.sdxl())
    throw Error(name + ": an SD 1.x / 2.x embedding (" + e.widths_text() +
                " wide) used with an SDXL model (text encoders " + model +
                " wide); SDXL embeddings hold clip_l and clip_g");
  if (widths.size() != 2 || e.clip_l.dim(1) != widths[0] || e.clip_g.dim(1) != widths[1])
    throw Error(name + ": SDXL embedding vectors are " + e.widths_text() +
                " wide, the model's text encoders " + model);
}

}  // namespace i2i
