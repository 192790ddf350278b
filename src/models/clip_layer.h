// One CLIP transformer encoder layer, shared by the text and the vision towers (transformers'
// CLIPEncoderLayer): pre-LayerNorm, x += out_proj(attention(ln1(x))), then x += fc2(act(fc1(ln2(x)))).
// The text encoder's attention is causal; the vision encoder's has no mask at all. q, k and v are one fused
// Linear layer (one GEMM of three times the width instead of three).
//
// Weights under `prefix` (Hugging Face names): layer_norm1.{weight, bias} [hidden],
// self_attn.{q,k,v,out}_proj.{weight [hidden, hidden], bias [hidden]}, layer_norm2.{weight, bias},
// mlp.fc1.{weight [inter, hidden], bias [inter]}, mlp.fc2.{weight [hidden, inter], bias [hidden]}.
#pragma once

#include <cstdint>
#include <string>

#include "core/tensor.h"
#include "kernels/linear.h"
#include "kernels/precision.h"
#include "models/layer_visitor.h"
#include "models/weights.h"

namespace i2i {

enum class ClipActivation { QuickGelu, Gelu };  // x * sigmoid(1.702 x) | exact erf GELU

// "quick_gelu" or "gelu" (Hugging Face hidden_act); anything else is an i2i::Error.
ClipActivation clip_activation_from_name(const std::string& name);

// What every layer of one tower shares.
struct ClipLayerSpec {
  int64_t hidden = 0;
  int64_t intermediate = 0;
  int heads = 1;
  ClipActivation activation = ClipActivation::QuickGelu;
  float layer_norm_eps = 1e-5f;
  bool causal = false;
};

class ClipEncoderLayer {
 public:
  ClipEncoderLayer() = default;
  // Reads and shape-checks the layer's tensors under `prefix` of `w` (errors name the tensor and origin);
  // the Linear layers are prepared at `precision`.
  ClipEncoderLayer(const Weights& w, const std::string& prefix, const ClipLayerSpec& spec,
                   Precision precision);
  // x [B, T, hidden] float32 -> [B, T, hidden].
  Tensor operator()(const Tensor& x) const;

  // Its prepared layers, named `prefix` + the Hugging Face module path (models/layer_visitor.h):
  // self_attn.{q,k,v}_proj as the three row blocks of the fused layer, self_attn.out_proj, mlp.fc1, mlp.fc2.
  void visit_layers(const std::string& prefix, const LayerVisitor& f);

 private:
  ClipLayerSpec spec_;
  Tensor ln1_w_, ln1_b_, ln2_w_, ln2_b_;  // float32
  Linear qkv_, out_, fc1_, fc2_;          // qkv_: [3 * hidden, hidden], rows q, k, v
};

// x [B, T, 3C] (a fused q, k, v projection) -> three contiguous [B, T, C] (also the DINOv2 blocks of
// depth_anything_v2.cpp).
void split3(const Tensor& x, Tensor& a, Tensor& b, Tensor& c);

}  // namespace i2i
