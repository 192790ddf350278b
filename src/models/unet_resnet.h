// ResnetBlock2D (diffusers), used by the UNet (with a time embedding) and the VAE (without), and the
// resampling layers Downsample2D / Upsample2D. Activations are NHWC float32.
#pragma once

#include "models/layer_visitor.h"
#include "models/unet_layers.h"

namespace i2i {

struct ResnetSpec {
  int64_t in = 0, out = 0;
  int64_t temb = 0;  // time-embedding width; 0 for none (VAE)
  int groups = 32;
  float eps = 1e-5f;
  float output_scale = 1;
};

class ResnetBlock {
 public:
  ResnetBlock() = default;
  // Loads `<prefix>norm1, conv1, time_emb_proj, norm2, conv2, conv_shortcut` (shortcut when in != out).
  ResnetBlock(const Weights& w, const std::string& prefix, const ResnetSpec& spec, Precision precision);
  // x [N, H, W, in]; temb_act = silu(time embedding) [N, temb] (ignored when the block has none).
  Tensor operator()(const Tensor& x, const Tensor* temb_act) const;

  // Its prepared layers, named `prefix` + the diffusers module path (models/layer_visitor.h).
  void visit_layers(const std::string& prefix, const LayerVisitor& f);

 private:
  ResnetSpec spec_;
  GroupNorm norm1_, norm2_;
  Conv2d conv1_, conv2_, shortcut_;
  Linear time_proj_;
};

// Conv 3x3 stride 2: the UNet pads 1 on every side; the VAE encoder pads only right and bottom by 1.
class Downsample {
 public:
  Downsample() = default;
  Downsample(const Weights& w, const std::string& prefix, int64_t channels, Padding padding,
             Precision precision);
  Tensor operator()(const Tensor& x) const { return conv_(x); }

  // Its prepared layers, named `prefix` + the diffusers module path (models/layer_visitor.h).
  void visit_layers(const std::string& prefix, const LayerVisitor& f);

 private:
  Conv2d conv_;
};

// Nearest-neighbour upsampling (2x, or to an explicit size) followed by conv 3x3 pad 1.
class Upsample {
 public:
  Upsample() = default;
  Upsample(const Weights& w, const std::string& prefix, int64_t channels, Precision precision);
  // out_h / out_w <= 0: exactly 2x.
  Tensor operator()(const Tensor& x, int64_t out_h = 0, int64_t out_w = 0) const;

  // Its prepared layers, named `prefix` + the diffusers module path (models/layer_visitor.h).
  void visit_layers(const std::string& prefix, const LayerVisitor& f);

 private:
  Conv2d conv_;
};

// Nearest-neighbour resize of NHWC x to [N, h, w, C] with PyTorch's rule src = floor(dst * in / out).
Tensor resize_nearest(const Tensor& x, int64_t h, int64_t w);

}  // namespace i2i
