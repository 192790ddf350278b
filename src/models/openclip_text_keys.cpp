#include "models/openclip_text_keys.h"

#include <cstring>

#include "core/error.h"

namespace i2i {

namespace {

// A 2-D tensor of `w` whose first or second dimension is free: checks rank and the known dimension.
const Tensor& get_2d(const Weights& w, const std::string& name, int64_t rows, int64_t cols) {
  const Tensor& t = w.get(name);
  const bool ok = t.ndim() == 2 && (rows < 0 || t.dim(0) == rows) && (cols < 0 || t.dim(1) == cols);
  if (!ok) {
    auto d = [](int64_t v, const char* what) { return v < 0 ? std::string(what) : std::to_string(v); };
    throw Error(w.origin() + ": tensor '" + w.full_name(name) + "' has shape " + shape_str(t.shape()) +
                ", expected [" + d(rows, "n") + ", " + d(cols, "n") + "]");
  }
  return t;
}

// Transposed copy of a 2-D tensor in its own dtype.
Tensor transpose_2d(const Tensor& t) {
  const int64_t r = t.dim(0), c = t.dim(1);
  const size_t es = dtype_size(t.dtype());
  Tensor out = Tensor::empty({c, r}, t.dtype());
  const auto* src = static_cast<const uint8_t*>(t.raw());
  auto* dst = static_cast<uint8_t*>(out.raw());
  for (int64_t i = 0; i < r; ++i)
    for (int64_t j = 0; j < c; ++j) std::memcpy(dst + (j * r + i) * es, src + (i * c + j) * es, es);
  return out;
}

}  // namespace

int count_openclip_blocks(const Weights& openclip) {
  int n = 0;
  while (openclip.sub("transformer.resblocks." + std::to_string(n) + ".").size() != 0) ++n;
  return n;
}

Weights openclip_text_to_hf(const Weights& oc, int blocks, bool with_projection) {
  Weights hf(oc.origin());
  const Tensor& tok = get_2d(oc, "token_embedding.weight", -1, -1);
  const int64_t h = tok.dim(1);
  hf.add("text_model.embeddings.token_embedding.weight", tok);
  hf.add("text_model.embeddings.position_embedding.weight", get_2d(oc, "positional_embedding", -1, h));

  const int present = count_openclip_blocks(oc);
  if (blocks < 0) blocks = present;
  check(present > 0,
        oc.origin() + ": no OpenCLIP text blocks '" + oc.full_name("transformer.resblocks.0.") + "*'");
  check(blocks <= present, oc.origin() + ": " + std::to_string(blocks) + " OpenCLIP text blocks requested, " +
                               std::to_string(present) + " present");
  const int64_t inter = get_2d(oc, "transformer.resblocks.0.mlp.c_fc.weight", -1, h).dim(0);
  const char* qkv[3] = {"q_proj", "k_proj", "v_proj"};
  for (int i = 0; i < blocks; ++i) {
    const std::string src = "transformer.resblocks." + std::to_string(i) + ".";
    const std::string dst = "text_model.encoder.layers." + std::to_string(i) + ".";
    auto copy = [&](const std::string& from, const std::string& to, const Shape& shape) {
      hf.add(dst + to, oc.get(src + from, shape));
    };
    copy("ln_1.weight", "layer_norm1.weight", {h});
    copy("ln_1.bias", "layer_norm1.bias", {h});
    const Tensor& in_w = oc.get(src + "attn.in_proj_weight", {3 * h, h});
    const Tensor& in_b = oc.get(src + "attn.in_proj_bias", {3 * h});
    for (int j = 0; j < 3; ++j) {
      hf.add(dst + "self_attn." + qkv[j] + ".weight", in_w.slice0(j * h, (j + 1) * h));
      hf.add(dst + "self_attn." + qkv[j] + ".bias", in_b.slice0(j * h, (j + 1) * h));
    }
    copy("attn.out_proj.weight", "self_attn.out_proj.weight", {h, h});
    copy("attn.out_proj.bias", "self_attn.out_proj.bias", {h});
    copy("ln_2.weight", "layer_norm2.weight", {h});
    copy("ln_2.bias", "layer_norm2.bias", {h});
    copy("mlp.c_fc.weight", "mlp.fc1.weight", {inter, h});
    copy("mlp.c_fc.bias", "mlp.fc1.bias", {inter});
    copy("mlp.c_proj.weight", "mlp.fc2.weight", {h, inter});
    copy("mlp.c_proj.bias", "mlp.fc2.bias", {h});
  }
  hf.add("text_model.final_layer_norm.weight", oc.get("ln_final.weight", {h}));
  hf.add("text_model.final_layer_norm.bias", oc.get("ln_final.bias", {h}));
  if (with_projection) hf.add("text_projection.weight", transpose_2d(get_2d(oc, "text_projection", h, -1)));
  return hf;
}

}  // namespace i2i
