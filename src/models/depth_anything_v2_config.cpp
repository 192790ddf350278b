#include "models/depth_anything_v2_config.h"

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace i2i {

std::string DepthAnythingV2Config::variant() const {
  if (embed_dim == 384 && depth == 12) return "vits";
  if (embed_dim == 768 && depth == 12) return "vitb";
  if (embed_dim == 1024 && depth == 24) return "vitl";
  return "custom";
}

namespace {

int64_t dim_of(const Weights& w, const std::string& name, int ndim, int i) {
  const Tensor& t = w.get(name);
  check(t.ndim() == ndim, w.origin() + ": tensor '" + w.full_name(name) + "' has shape " +
                              shape_str(t.shape()) + ", expected " + std::to_string(ndim) + " dimensions");
  return t.dim(i);
}

}  // namespace

DepthAnythingV2Config infer_depth_anything_v2_config(const Weights& w, const nlohmann::json* sidecar) {
  DepthAnythingV2Config c;
  const std::string& origin = w.origin();
  c.embed_dim = dim_of(w, "pretrained.cls_token", 3, 2);
  c.patch_size = dim_of(w, "pretrained.patch_embed.proj.weight", 4, 2);
  check(dim_of(w, "pretrained.patch_embed.proj.weight", 4, 3) == c.patch_size && c.patch_size > 0,
        origin + ": tensor 'pretrained.patch_embed.proj.weight' is not a square patch");
  const int64_t positions = dim_of(w, "pretrained.pos_embed", 3, 1) - 1;
  int64_t grid = 0;
  while ((grid + 1) * (grid + 1) <= positions) ++grid;
  check(grid > 0 && grid * grid == positions, origin + ": tensor 'pretrained.pos_embed' holds " +
                                                  std::to_string(positions + 1) +
                                                  " positions, not a class token and a square grid");
  c.pos_grid = grid;
  c.depth = 0;
  while (w.has("pretrained.blocks." + std::to_string(c.depth) + ".norm1.weight")) ++c.depth;
  check(c.depth > 0, origin + ": missing tensor 'pretrained.blocks.0.norm1.weight' (no transformer blocks)");
  c.mlp_hidden = dim_of(w, "pretrained.blocks.0.mlp.fc1.weight", 2, 0);
  for (int i = 0; i < 4; ++i)
    c.out_channels[static_cast<size_t>(i)] =
        dim_of(w, "depth_head.projects." + std::to_string(i) + ".weight", 4, 0);
  c.features = dim_of(w, "depth_head.scratch.layer1_rn.weight", 4, 0);
  c.head_hidden = dim_of(w, "depth_head.scratch.output_conv2.0.weight", 4, 0);

  c.num_heads = static_cast<int>(c.embed_dim / 64);
  if (c.depth == 12)
    c.intermediate_layers = {2, 5, 8, 11};
  else if (c.depth == 24)
    c.intermediate_layers = {4, 11, 17, 23};
  else if (c.depth == 40)
    c.intermediate_layers = {9, 19, 29, 39};
  else
    c.intermediate_layers = {-1, -1, -1, -1};
  if (sidecar && sidecar->is_object()) {
    if (auto h = sidecar->find("num_heads"); h != sidecar->end() && h->is_number_integer())
      c.num_heads = h->get<int>();
    if (auto l = sidecar->find("intermediate_layer_idx");
        l != sidecar->end() && l->is_array() && l->size() == 4)
      for (size_t i = 0; i < 4; ++i)
        c.intermediate_layers[i] = (*l)[i].is_number_integer() ? (*l)[i].get<int>() : -1;
  }
  check(c.num_heads > 0 && c.embed_dim % c.num_heads == 0,
        origin + ": cannot split embedding width " + std::to_string(c.embed_dim) + " into " +
            std::to_string(c.num_heads) + " attention heads");
  for (int l : c.intermediate_layers)
    check(l >= 0 && l < c.depth, origin + ": " + std::to_string(c.depth) +
                                     " blocks: not a released Depth Anything V2 size, and no sidecar .json "
                                     "gives its intermediate_layer_idx");
  for (size_t i = 1; i < 4; ++i)
    check(c.intermediate_layers[i - 1] < c.intermediate_layers[i],
          origin + ": intermediate_layer_idx must be 4 increasing block numbers");
  return c;
}

}  // namespace i2i
