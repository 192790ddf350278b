// The UNet's level blocks (diffusers CrossAttnDownBlock2D / DownBlock2D, UNetMidBlock2DCrossAttn,
// CrossAttnUpBlock2D / UpBlock2D). A block without transformers is the same class with none loaded. The
// conditioning bundle reaches every transformer; its hook sees every layer's output (UNetHook::block_output).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "models/layer_visitor.h"
#include "models/unet_config.h"
#include "models/unet_resnet.h"
#include "models/unet_transformer.h"

namespace i2i {

struct UNetBlockSpec {
  int64_t in = 0, out = 0;
  int64_t temb = 0;
  int layers = 2;
  bool attention = false;
  TransformerSpec transformer;  // channels set from `out`
  int groups = 32;
  float eps = 1e-5f;
  float output_scale = 1;
  bool resample = true;  // downsampler / upsampler present
};

// The spec of level `level`'s block of a UNet (or ControlNet) with config `c`.
UNetBlockSpec unet_block_spec(const UNetConfig& c, int level, int64_t in, int64_t out, int layers,
                              bool resample);
// The BasicTransformerBlocks a block of this spec holds (0 without attention).
int transformer_block_count(const UNetBlockSpec& spec);

class UNetDownBlock {
 public:
  UNetDownBlock() = default;
  UNetDownBlock(const Weights& w, const std::string& prefix, const UNetBlockSpec& spec, Precision precision);
  // Returns the block output; appends every skip tensor (one per resnet, plus the downsampled output).
  Tensor operator()(const Tensor& x, const Tensor& temb_act, const UNetConditioning& cond,
                    std::vector<Tensor>& skips) const;
  size_t skip_count() const { return resnets_.size() + (down_ ? 1 : 0); }
  const std::vector<Transformer2D>& attentions() const { return attentions_; }

  // Its prepared layers, named `prefix` + the diffusers module path (models/layer_visitor.h).
  void visit_layers(const std::string& prefix, const LayerVisitor& f);

 private:
  std::vector<ResnetBlock> resnets_;
  std::vector<Transformer2D> attentions_;
  std::vector<std::string> layer_names_;  // per resnet: the module whose output the hook sees
  std::optional<Downsample> down_;
};

class UNetMidBlock {
 public:
  UNetMidBlock() = default;
  // resnets.0, attentions.0, resnets.1 at `channels` (spec.in == spec.out).
  UNetMidBlock(const Weights& w, const std::string& prefix, const UNetBlockSpec& spec, Precision precision);
  Tensor operator()(const Tensor& x, const Tensor& temb_act, const UNetConditioning& cond) const;
  const Transformer2D& attention() const { return attention_; }

  // Its prepared layers, named `prefix` + the diffusers module path (models/layer_visitor.h).
  void visit_layers(const std::string& prefix, const LayerVisitor& f);

 private:
  std::string name_;
  ResnetBlock resnet0_, resnet1_;
  Transformer2D attention_;
};

// Channel bookkeeping of an up block: resnet j takes [hidden (prev for j == 0, else out), skip j] where the
// skip widths are given per resnet.
class UNetUpBlock {
 public:
  UNetUpBlock() = default;
  UNetUpBlock(const Weights& w, const std::string& prefix, const UNetBlockSpec& spec,
              const std::vector<int64_t>& skip_channels, Precision precision);
  // Consumes skips from the back of `skips` (one per resnet). upsample_h/w: target size of the upsampler
  // (<= 0: 2x).
  Tensor operator()(const Tensor& x, const Tensor& temb_act, const UNetConditioning& cond,
                    std::vector<Tensor>& skips, int64_t upsample_h = 0, int64_t upsample_w = 0) const;
  size_t resnet_count() const { return resnets_.size(); }
  const std::vector<Transformer2D>& attentions() const { return attentions_; }

  // Its prepared layers, named `prefix` + the diffusers module path (models/layer_visitor.h).
  void visit_layers(const std::string& prefix, const LayerVisitor& f);

 private:
  std::vector<ResnetBlock> resnets_;
  std::vector<Transformer2D> attentions_;
  std::vector<std::string> layer_names_;
  std::optional<Upsample> up_;
};

}  // namespace i2i
