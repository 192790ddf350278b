#include "tools/bench_annotators.h"

#include <string>

namespace i2i {

DepthAnythingV2Config depth_anything_v2_vitl() {
  DepthAnythingV2Config c;  // the defaults are ViT-L's
  return c;
}

std::vector<TensorSpec> depth_anything_v2_layout(const DepthAnythingV2Config& c) {
  std::vector<TensorSpec> v;
  const int64_t d = c.embed_dim, p = c.patch_size, g = c.pos_grid, m = c.mlp_hidden, f = c.features;
  const std::string t = "pretrained.";
  v.push_back({t + "cls_token", {1, 1, d}, InitKind::Embedding});
  v.push_back({t + "pos_embed", {1, g * g + 1, d}, InitKind::Embedding});
  v.push_back({t + "mask_token", {1, d}, InitKind::Embedding});
  v.push_back({t + "patch_embed.proj.weight", {d, 3, p, p}, InitKind::Weight});
  v.push_back({t + "patch_embed.proj.bias", {d}, InitKind::Bias});
  for (int i = 0; i < c.depth; ++i) {
    const std::string b = t + "blocks." + std::to_string(i) + ".";
    v.push_back({b + "norm1.weight", {d}, InitKind::Norm});
    v.push_back({b + "norm1.bias", {d}, InitKind::Bias});
    v.push_back({b + "attn.qkv.weight", {3 * d, d}, InitKind::Weight});
    v.push_back({b + "attn.qkv.bias", {3 * d}, InitKind::Bias});
    v.push_back({b + "attn.proj.weight", {d, d}, InitKind::Weight});
    v.push_back({b + "attn.proj.bias", {d}, InitKind::Bias});
    v.push_back({b + "ls1.gamma", {d}, InitKind::Norm});
    v.push_back({b + "norm2.weight", {d}, InitKind::Norm});
    v.push_back({b + "norm2.bias", {d}, InitKind::Bias});
    v.push_back({b + "mlp.fc1.weight", {m, d}, InitKind::Weight});
    v.push_back({b + "mlp.fc1.bias", {m}, InitKind::Bias});
    v.push_back({b + "mlp.fc2.weight", {d, m}, InitKind::Weight});
    v.push_back({b + "mlp.fc2.bias", {d}, InitKind::Bias});
    v.push_back({b + "ls2.gamma", {d}, InitKind::Norm});
  }
  v.push_back({t + "norm.weight", {d}, InitKind::Norm});
  v.push_back({t + "norm.bias", {d}, InitKind::Bias});
  const std::string h = "depth_head.";
  const auto& oc = c.out_channels;
  for (size_t i = 0; i < 4; ++i) {
    v.push_back({h + "projects." + std::to_string(i) + ".weight", {oc[i], d, 1, 1}, InitKind::Weight});
    v.push_back({h + "projects." + std::to_string(i) + ".bias", {oc[i]}, InitKind::Bias});
  }
  v.push_back({h + "resize_layers.0.weight", {oc[0], oc[0], 4, 4}, InitKind::Weight});
  v.push_back({h + "resize_layers.0.bias", {oc[0]}, InitKind::Bias});
  v.push_back({h + "resize_layers.1.weight", {oc[1], oc[1], 2, 2}, InitKind::Weight});
  v.push_back({h + "resize_layers.1.bias", {oc[1]}, InitKind::Bias});
  v.push_back({h + "resize_layers.3.weight", {oc[3], oc[3], 3, 3}, InitKind::Weight});
  v.push_back({h + "resize_layers.3.bias", {oc[3]}, InitKind::Bias});
  const std::string s = h + "scratch.";
  for (size_t i = 0; i < 4; ++i)
    v.push_back({s + "layer" + std::to_string(i + 1) + "_rn.weight", {f, oc[i], 3, 3}, InitKind::Weight});
  for (int r = 1; r <= 4; ++r) {
    const std::string n = s + "refinenet" + std::to_string(r) + ".";
    v.push_back({n + "out_conv.weight", {f, f, 1, 1}, InitKind::Weight});
    v.push_back({n + "out_conv.bias", {f}, InitKind::Bias});
    for (const char* unit : {"resConfUnit1", "resConfUnit2"})
      for (const char* conv : {".conv1", ".conv2"}) {
        v.push_back({n + unit + conv + ".weight", {f, f, 3, 3}, InitKind::Weight});
        v.push_back({n + unit + conv + ".bias", {f}, InitKind::Bias});
      }
  }
  v.push_back({s + "output_conv1.weight", {f / 2, f, 3, 3}, InitKind::Weight});
  v.push_back({s + "output_conv1.bias", {f / 2}, InitKind::Bias});
  v.push_back({s + "output_conv2.0.weight", {c.head_hidden, f / 2, 3, 3}, InitKind::Weight});
  v.push_back({s + "output_conv2.0.bias", {c.head_hidden}, InitKind::Bias});
  v.push_back({s + "output_conv2.2.weight", {1, c.head_hidden, 1, 1}, InitKind::Weight});
  v.push_back({s + "output_conv2.2.bias", {1}, InitKind::Bias});
  return v;
}

Weights random_depth_anything_v2_weights(const DepthAnythingV2Config& config, DType dtype, uint64_t seed) {
  Weights w("random Depth Anything V2 (" + config.variant() + ")");
  for (const auto& s : depth_anything_v2_layout(config)) w.add(s.name, random_tensor(s, dtype, seed));
  return w;
}

double depth_anything_v2_flops(const DepthAnythingV2Config& c, int64_t ph, int64_t pw) {
  const double d = static_cast<double>(c.embed_dim), m = static_cast<double>(c.mlp_hidden);
  const double n = static_cast<double>(ph * pw), t = n + 1, p = static_cast<double>(c.patch_size);
  double flops = 2 * n * d * 3 * p * p;  // patch embedding
  const int blocks = c.intermediate_layers[3] + 1;
  flops += blocks * (2 * t * d * 3 * d + 4 * t * t * d + 2 * t * d * d + 4 * t * d * m);
  const double f = static_cast<double>(c.features);
  double oc[4];
  for (int i = 0; i < 4; ++i) oc[i] = static_cast<double>(c.out_channels[static_cast<size_t>(i)]);
  const double hw[4] = {16 * n, 4 * n, n, static_cast<double>(((ph - 1) / 2 + 1) * ((pw - 1) / 2 + 1))};
  for (int i = 0; i < 4; ++i) flops += 2 * n * d * oc[i];           // projects
  flops += 2 * n * oc[0] * oc[0] * 16 + 2 * n * oc[1] * oc[1] * 4;  // transposed convolutions
  flops += 2 * hw[3] * oc[3] * oc[3] * 9;                           // stride-2 convolution
  for (int i = 0; i < 4; ++i) flops += 2 * hw[i] * oc[i] * f * 9;   // layerN_rn
  const double conv3 = 2 * f * f * 9, conv1 = 2 * f * f;
  flops += hw[3] * 2 * conv3 + hw[2] * conv1;  // refinenet4 (RCU2 only)
  for (int i = 2; i >= 0; --i)
    flops += hw[i] * 4 * conv3 + (i == 0 ? 4 * hw[0] : hw[i - 1]) * conv1;  // refinenet3..1
  const double full = static_cast<double>(ph * pw) * p * p;
  flops += 2 * 4 * hw[0] * f * (f / 2) * 9;  // output_conv1
  flops += 2 * full * (f / 2) * static_cast<double>(c.head_hidden) * 9 +
           2 * full * static_cast<double>(c.head_hidden);
  return flops;
}

}  // namespace i2i
